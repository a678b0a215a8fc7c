"""Deterministic synthetic customers for the benchmarks: customer ``i`` is a pure function of
``i`` (ten fields, a region, a unique email, a valid London phone number), generated before
any clock starts."""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Any

import phonenumbers

from vault.customers.catalogue import DEFAULT_FIELDS

SEED = 20_240_601
FIELDS = tuple(spec.name for spec in DEFAULT_FIELDS)  # the ten fields
REGIONS = ("EU", "UK", "US", "APAC")

_GIVEN = ("Amara", "Ben", "Chloé", "Dmitri", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas")
_FAMILY = ("Adeyemi", "Brown", "Chen", "Dubois", "Eriksen", "García", "Hughes", "Ivanova")
_STREETS = ("High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue")
_CITIES = ("London SE1 7PB", "Leeds LS1 4DY", "Bristol BS1 5TR", "York YO1 7HH")
_JOBS = ("Engineer", "Accountant", "Nurse", "Teacher", "Product Manager", "Data Analyst")
_COMPANIES = ("Acme Ltd", "Globex plc", "Initech", "Umbrella Health", "Stark Logistics")
_INTERESTS = ("cycling", "chess", "jazz", "hiking", "cooking", "football", "photography")
_DOMAINS = ("example.org", "example.com", "mail.example.net")


def check(condition: bool, what: str) -> None:
    """An assertion that ``python -O`` keeps: a benchmark of broken data is worthless."""
    if not condition:
        raise RuntimeError(f"records benchmark: {what} check failed")


@functools.cache
def _phones(size: int = 4_096) -> list[str]:
    """Valid London numbers in E.164 (+44 20 3/7/8xxx xxxx), checked once."""
    rng = random.Random(SEED)
    pool = [f"+4420{rng.choice('378')}{rng.randrange(10**7):07d}" for _ in range(size)]
    check(all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in pool), "phones")
    return pool


def synthetic_customer(i: int) -> tuple[str, dict[str, Any]]:
    """Customer ``i`` (region, ten fields): a pure function of ``i``; emails are unique."""
    rng = random.Random(SEED * 1_000_003 + i)
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(25_000))
    letters = "".join(rng.choices("ABCEGHJKLMNPRSTWXYZ", k=2))
    return REGIONS[i % len(REGIONS)], {
        "given_name": given,
        "family_name": family,
        "email": f"{given[0]}.{family}.{i}@{rng.choice(_DOMAINS)}".lower(),
        "phone": rng.choice(_phones()),
        "postal_address": f"{rng.randrange(1, 300)} {rng.choice(_STREETS)}, {rng.choice(_CITIES)}",
        "birth_date": birth.isoformat(),
        "national_id": f"{letters}{rng.randrange(10**6):06d}{rng.choice('ABCD')}",
        "job_title": rng.choice(_JOBS),
        "company": rng.choice(_COMPANIES),
        "interests": rng.sample(_INTERESTS, rng.randint(1, 4)),
    }


Row = tuple[int, str, dict[str, Any]]  # (i, region, fields)


def rows(batch: range) -> list[Row]:
    """Customers ``batch``, generated before any clock starts."""
    return [(i, *synthetic_customer(i)) for i in batch]


def random_case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in text)
