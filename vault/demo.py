"""Realistic synthetic customers for demos and benchmarks: names, addresses and phone numbers
that fit each region's locales, consents with some withdrawals, and interactions."""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import phonenumbers
from faker import Faker

from vault.customers.interactions import add_interaction
from vault.customers.service import CustomerStore
from vault.governance.consent import record_consent

# region -> (Faker locale, phone region, currency)
LOCALES: dict[str, list[tuple[str, str, str]]] = {
    "EU": [("de_DE", "DE", "EUR"), ("fr_FR", "FR", "EUR"), ("nl_NL", "NL", "EUR"),
           ("es_ES", "ES", "EUR"), ("it_IT", "IT", "EUR"), ("pl_PL", "PL", "PLN")],
    "UK": [("en_GB", "GB", "GBP")],
    "US": [("en_US", "US", "USD")],
    "APAC": [("en_AU", "AU", "AUD"), ("en_NZ", "NZ", "NZD"), ("en_IN", "IN", "INR")],
}  # fmt: skip
INTERESTS = [
    "cycling", "cooking", "photography", "gardening", "travel", "running", "jazz", "chess",
    "sailing", "ceramics", "hiking", "wine", "design", "football", "yoga", "board games",
]  # fmt: skip
SUPPORT_TOPICS = [
    "Delivery arrived late", "Invoice address needs correcting", "Product stopped working",
    "Question about the warranty", "Wants to change the subscription plan",
]  # fmt: skip


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", plain.lower()) or "customer"


def _mobile_number(rng: random.Random, region: str) -> str:
    """A valid number of the region: its example mobile number with varied last digits."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"no example number for region {region}")
    national = str(example.national_number)
    for _ in range(20):
        digits = national[:-4] + f"{rng.randrange(10_000):04d}"
        candidate = phonenumbers.parse(f"+{example.country_code}{digits}", None)
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


class DemoCustomers:
    """Deterministic for a given seed."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)  # noqa: S311  (synthetic data, not secrets)
        self.fakers: dict[str, Faker] = {}
        for choices in LOCALES.values():
            for locale, _phone, _currency in choices:
                fake = Faker(locale)
                fake.seed_instance(self.rng.randrange(2**32))
                self.fakers[locale] = fake

    def profile(self, index: int) -> tuple[str, str, dict[str, Any]]:
        """(region, currency, fields) of the ``index``-th customer."""
        region = self.rng.choices(list(LOCALES), weights=[5, 2, 3, 2])[0]
        locale, phone_region, currency = self.rng.choice(LOCALES[region])
        fake = self.fakers[locale]
        given, family = fake.first_name(), fake.last_name()
        fields: dict[str, Any] = {
            "given_name": given,
            "family_name": family,
            "email": f"{_ascii_slug(given)}.{_ascii_slug(family)}.{index}"
            f"@{fake.safe_domain_name()}",
            "phone": _mobile_number(self.rng, phone_region),
            "postal_address": fake.address().replace("\n", ", ")[:500],
            "birth_date": fake.date_of_birth(minimum_age=18, maximum_age=88).isoformat(),
            "job_title": fake.job()[:100],
            "company": fake.company()[:200],
            "interests": self.rng.sample(INTERESTS, k=self.rng.randint(1, 4)),
        }
        if self.rng.random() < 0.7:
            fields["national_id"] = fake.bothify("??-#########").upper()
        return region, currency, fields

    def populate(self, store: CustomerStore, count: int, start: int = 0) -> Iterator[str]:
        """Create ``count`` customers with consents and interactions; yields each new id."""
        for index in range(start, start + count):
            region, currency, fields = self.profile(index)
            customer_id = store.create(fields, region=region)
            joined = store.now - dt.timedelta(days=self.rng.randint(30, 900))
            for purpose, chance in (("marketing", 0.6), ("analytics", 0.7)):
                if self.rng.random() < chance:
                    record_consent(store, customer_id, purpose=purpose, granted=True,
                                   source="signup-form", notice_version="2026-01",
                                   occurred_at=joined, announce=False)  # fmt: skip
                    if self.rng.random() < 0.1:
                        record_consent(store, customer_id, purpose=purpose, granted=False,
                                       source="preference-centre", announce=False,
                                       occurred_at=joined + dt.timedelta(days=20))  # fmt: skip
            for _ in range(self.rng.randint(0, 4)):
                self._interaction(store, customer_id, currency, joined)
            yield customer_id

    def _interaction(
        self, store: CustomerStore, customer_id: str, currency: str, joined: dt.datetime
    ) -> None:
        kind = self.rng.choice(
            ["purchase", "purchase", "support_ticket", "email", "call", "survey"]
        )
        when = joined + dt.timedelta(
            days=self.rng.randint(0, 25), minutes=self.rng.randint(0, 1440)
        )
        if kind == "purchase":
            amount = f"{self.rng.uniform(9, 900):.2f}"
            add_interaction(store, customer_id, kind=kind, channel="web", occurred_at=when,
                            amount=amount, currency=currency)  # fmt: skip
        elif kind == "support_ticket":
            add_interaction(store, customer_id, kind=kind, channel="helpdesk", occurred_at=when,
                            text=self.rng.choice(SUPPORT_TOPICS))  # fmt: skip
        elif kind == "survey":
            add_interaction(store, customer_id, kind=kind, channel="email", occurred_at=when,
                            text=f"Satisfaction {self.rng.randint(1, 5)}/5")  # fmt: skip
        else:
            add_interaction(store, customer_id, kind=kind, channel=kind, occurred_at=when)
