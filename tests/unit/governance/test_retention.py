"""Retention: rules erase what is past its period, with a clock the test moves; legal holds
stop them; the sweep is idempotent and resumable, audited, and leaves a log that verifies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.helpers import SAMPLE_FIELDS
from vault import runtime
from vault.audit.models import AuditEvent
from vault.clock import FixedClock
from vault.customers.interactions import add_interaction, list_interactions
from vault.customers.models import BlindIndexEntry, Customer, Interaction
from vault.customers.service import CustomerStore
from vault.db import db
from vault.errors import ValidationFailed
from vault.governance.consent import record_consent
from vault.governance.erasure import erase_customers, lock_erasable
from vault.governance.legal_holds import lift_hold, place_hold
from vault.governance.models import ConsentEvent, ConsentState, RetentionRule
from vault.governance.notes import reasons_of
from vault.governance.retention import Sweep, SweepReport
from vault.governance.retention_rules import SHIPPED_RULES, create_rule, rules

DAY = dt.timedelta(days=1)


def person(i: int) -> dict[str, Any]:
    return {**SAMPLE_FIELDS, "email": f"person{i}@example.org", "phone": f"+4420794{i:05d}"}


def only_rule(store: CustomerStore, **rule: Any) -> RetentionRule:
    """Disable the shipped rules and add this one."""
    store.session.execute(sa.update(RetentionRule).values(enabled=False))
    return create_rule(store.session, store.catalogue, by="test", now=store.now, **rule)


def sweep(
    store: CustomerStore, clock: FixedClock, *, dry_run: bool = False, **options: Any
) -> SweepReport:
    runner = Sweep(store.session, store.keyring, store.catalogue, now=clock.now(), **options)
    return runner.run(dry_run=dry_run)


def stored_fields(store: CustomerStore, customer_id: str) -> set[str]:
    return set(store.read_one(customer_id, store.catalogue.fields).values)


def retention_events(store: CustomerStore) -> list[tuple[str, str, str, str, str]]:
    rows = store.session.execute(
        sa.select(
            AuditEvent.action,
            AuditEvent.outcome,
            AuditEvent.reason,
            AuditEvent.customer_ids,
            AuditEvent.field_names,
        )
        .where(AuditEvent.action.like("retention.%"), AuditEvent.action != "retention.run")
        .order_by(AuditEvent.id)
    )
    return [(action, outcome, reason, ids, names) for action, outcome, reason, ids, names in rows]


def test_vault_init_ships_the_documented_rules(store: CustomerStore) -> None:
    shipped = {r.id: r for r in rules(store.session)}
    assert set(shipped) == {spec["id"] for spec in SHIPPED_RULES}
    assert all(rule.enabled for rule in shipped.values())
    erase_inactive = shipped["ret_erase_inactive_customers"]
    assert (erase_inactive.action, erase_inactive.trigger, erase_inactive.period_days) == (
        "erase_customer",
        "last_activity",
        1095,
    )


def test_a_field_past_its_period_is_erased_and_the_rest_kept(
    store: CustomerStore, clock: FixedClock
) -> None:
    rule = only_rule(store, field="phone", trigger="created", period_days=365, action="erase_field")
    old = store.create(person(1), region="EU")
    store.now = clock.advance(days=200)
    young = store.create(person(2), region="EU")
    clock.advance(days=170)  # old: 370 days, young: 170 days

    report = sweep(store, clock)

    assert stored_fields(store, old) == set(SAMPLE_FIELDS) - {"phone"}
    assert stored_fields(store, young) == set(SAMPLE_FIELDS)
    # the other values still decrypt to what they were
    assert store.read_one(old, ["email", "interests"]).values == {
        "email": "person1@example.org",
        "interests": ["sailing", "ceramics"],
    }
    assert store.search("phone", person(1)["phone"]) == []  # its blind index is gone too
    assert store.search("phone", person(2)["phone"]) == [young]
    assert store.search("email", "person1@example.org") == [old]
    (outcome,) = report.rules
    assert (outcome.rule_id, outcome.due, outcome.erased, outcome.held) == (rule.id, 1, 1, 0)
    assert retention_events(store) == [("retention.erase_field", "allowed", rule.id, old, "phone")]
    # nothing is left to do: a second run finds nothing due
    assert sweep(store, clock).erased == 0
    assert len(retention_events(store)) == 1


def test_a_customer_under_legal_hold_is_untouched(store: CustomerStore, clock: FixedClock) -> None:
    rule = only_rule(store, trigger="last_activity", period_days=30, action="erase_customer")
    held = store.create(person(1), region="EU")
    free = store.create(person(2), region="EU")
    add_interaction(store, held, kind="call", text="Asked about the invoice")
    hold = place_hold(
        store.session, held, reason="Litigation 2026-7", by="usr_legal", now=clock.now(),
        notes=runtime.note_cipher(),
    )  # fmt: skip
    clock.advance(days=31)

    dry = sweep(store, clock, dry_run=True)
    assert (dry.erased, dry.held) == (1, 1)
    assert store.exists(free)  # a dry run changes nothing

    report = sweep(store, clock)

    assert (report.erased, report.held) == (1, 1)
    assert not store.exists(free)
    assert store.exists(held)
    assert stored_fields(store, held) == set(SAMPLE_FIELDS)
    texts = [i.text for i in list_interactions(store, held, with_text=True)]
    assert texts == ["Asked about the invoice"]
    assert retention_events(store) == [
        ("retention.erase_customer", "denied", "legal_hold", held, ""),
        ("retention.erase_customer", "allowed", rule.id, free, " ".join(sorted(SAMPLE_FIELDS))),
    ]
    # once the hold is lifted, the next sweep applies the rule
    lift_hold(store.session, hold.id, reason="Case closed", by="usr_legal", now=clock.now(),
              notes=runtime.note_cipher())  # fmt: skip
    assert reasons_of(hold, runtime.note_cipher()) == ("Litigation 2026-7", "Case closed")
    assert sweep(store, clock).erased == 1
    # the hold's reasons (staff's words about the customer) went with the erasure
    store.session.refresh(hold)
    assert (hold.reason, hold.reason_ciphertext, hold.lift_reason, hold.lift_reason_ciphertext) \
        == (None, None, None, None)  # fmt: skip
    assert (hold.placed_by, hold.lifted_by) == ("usr_legal", "usr_legal")
    assert not store.exists(held)


def test_withdrawing_consent_erases_interests_after_the_shipped_period(
    store: CustomerStore, clock: FixedClock
) -> None:
    withdrew = store.create(person(1), region="EU")
    consents = store.create(person(2), region="EU")
    for customer_id in (withdrew, consents):
        record_consent(store, customer_id, purpose="marketing", granted=True, source="web")
    store.now = clock.advance(days=10)
    record_consent(store, withdrew, purpose="marketing", granted=False, source="email-link")

    clock.advance(days=29)
    assert sweep(store, clock).erased == 0
    assert stored_fields(store, withdrew) == set(SAMPLE_FIELDS)

    clock.advance(days=2)  # 31 days after the withdrawal
    report = sweep(store, clock)

    by_rule = {r.rule_id: r for r in report.rules}
    assert by_rule["ret_interests_after_marketing_withdrawal"].erased == 1
    assert report.erased == 1
    assert stored_fields(store, withdrew) == set(SAMPLE_FIELDS) - {"interests"}
    assert stored_fields(store, consents) == set(SAMPLE_FIELDS)


def test_anonymisation_keeps_code_shaped_sources_and_channels_only(
    store: CustomerStore, clock: FixedClock
) -> None:
    customer_id = store.create(person(1), region="EU")
    other = store.create(person(2), region="EU")
    with pytest.raises(ValidationFailed) as refused:
        record_consent(store, customer_id, purpose="marketing", granted=True,
                       source="Told Jane Dupont at 14 Rue des Lilas")  # fmt: skip
    assert set(refused.value.errors or {}) == {"source"}
    with pytest.raises(ValidationFailed) as refused:
        add_interaction(store, customer_id, kind="call", channel="Jane's mobile")
    assert set(refused.value.errors or {}) == {"channel"}
    # rows written before sources and channels had to be codes
    for who in (customer_id, other):
        record_consent(store, who, purpose="marketing", granted=True, source="web-form")
        add_interaction(store, who, kind="call", channel="phone")
        store.session.add(
            ConsentEvent(
                customer_id=who,
                purpose_code="sales",
                granted=True,
                occurred_at=clock.now(),
                source="Jane Dupont, by phone",
            )
        )
        store.session.add(Interaction(id=f"int_legacy_{who[-8:]}", customer_id=who, kind="call",
                                      channel="desk of J. Dupont", occurred_at=clock.now(),
                                      created_at=clock.now()))  # fmt: skip
    store.session.flush()
    only_rule(store, trigger="created", period_days=0, action="anonymise")
    erasable = lock_erasable(store.session, [customer_id])
    erase_customers(
        store.session,
        store.keyring,
        erasable.free,
        now=clock.now(),
        anonymise=True,
        cause="retention",
    )

    def kept(who: str) -> tuple[list[str], list[str]]:
        sources = store.session.scalars(sa.select(ConsentEvent.source).where(
            ConsentEvent.customer_id == who).order_by(ConsentEvent.source))  # fmt: skip
        channels = store.session.scalars(sa.select(Interaction.channel).where(
            Interaction.customer_id == who).order_by(Interaction.channel))  # fmt: skip
        return list(sources), list(channels)

    assert kept(customer_id) == (["redacted", "web-form"], ["", "phone"])
    assert kept(other) == (["Jane Dupont, by phone", "web-form"], ["desk of J. Dupont", "phone"])


def test_the_relationship_end_starts_the_shipped_periods(
    store: CustomerStore, clock: FixedClock
) -> None:
    customer_id = store.create(person(1), region="EU")
    add_interaction(
        store, customer_id, kind="purchase", amount="120.50", currency="EUR", text="Order"
    )
    record_consent(store, customer_id, purpose="marketing", granted=True, source="web",
                   evidence="ticked the box on the sign-up form")  # fmt: skip
    store.end_relationship(customer_id, clock.now())

    clock.advance(days=91)
    sweep(store, clock)
    assert stored_fields(store, customer_id) == set(SAMPLE_FIELDS) - {"national_id"}

    clock.advance(days=730 - 91)
    report = sweep(store, clock)
    by_rule = {r.rule_id: r for r in report.rules}
    assert by_rule["ret_anonymise_former_customers"].erased == 1
    # anonymised: no person is left, the facts without a person are
    row = store.session.get(Customer, customer_id)
    assert row is not None
    assert (row.status, row.erasure, row.wrapped_key, row.sealed_values) == (
        "erased", "anonymised", None, None,
    )  # fmt: skip
    assert not store.exists(customer_id)
    interaction = store.session.scalars(
        sa.select(Interaction).where(Interaction.customer_id == customer_id)
    ).one()
    assert (str(interaction.amount), interaction.text_ciphertext) == ("120.50", None)
    event = store.session.scalars(
        sa.select(ConsentEvent).where(ConsentEvent.customer_id == customer_id)
    ).one()
    assert (event.purpose_code, event.evidence_ciphertext) == ("marketing", None)
    assert store.session.scalar(
        sa.select(sa.func.count()).select_from(BlindIndexEntry)
        .where(BlindIndexEntry.customer_id == customer_id)
    ) == 0  # fmt: skip


def test_erasing_a_customer_leaves_only_a_tombstone(
    store: CustomerStore, clock: FixedClock
) -> None:
    only_rule(store, trigger="created", period_days=0, action="erase_customer")
    customer_id = store.create(person(1), region="UK")
    add_interaction(store, customer_id, kind="support_ticket", text="Cannot log in")
    record_consent(store, customer_id, purpose="marketing", granted=True, source="web",
                   evidence="double opt-in")  # fmt: skip
    store.session.flush()

    assert sweep(store, clock).erased == 1

    row = store.session.get(Customer, customer_id)
    assert row is not None
    assert (row.status, row.erasure, row.region, row.erased_at) == (
        "erased", "erased", "UK", clock.now(),
    )  # fmt: skip
    assert (row.wrapped_key, row.kek_version, row.sealed_values) == (None, None, None)
    for table in (BlindIndexEntry, Interaction, ConsentEvent, ConsentState):
        count = store.session.scalar(
            sa.select(sa.func.count()).select_from(table).where(table.customer_id == customer_id)
        )
        assert count == 0, table.__tablename__
    assert store.search("email", "person1@example.org") == []


def test_rules_are_validated_and_nothing_is_written_for_a_bad_one(store: CustomerStore) -> None:
    def refused(**rule: Any) -> dict[str, Sequence[str]]:
        with pytest.raises(ValidationFailed) as caught:
            create_rule(store.session, store.catalogue, by="test", now=store.now, **rule)
        assert caught.value.errors is not None
        return caught.value.errors

    base = {"trigger": "created", "period_days": 30}
    assert "field" in refused(**base, action="erase_field")
    assert "field" in refused(**base, action="erase_field", field="email", category="contact")
    assert refused(**base, action="erase_field", field="shoe_size") == {"field": ["unknown field"]}
    assert "category" in refused(**base, action="erase_field", category="astrology")
    assert "action" in refused(**base, action="anonymise", field="email")
    assert "action" in refused(**base, action="shred")
    assert "period_days" in refused(trigger="created", period_days=-1, action="anonymise")
    assert "period_days" in refused(trigger="created", period_days=40_000, action="anonymise")
    assert "trigger" in refused(trigger="birthday", period_days=1, action="anonymise")
    withdrawn = {"trigger": "consent_withdrawn", "period_days": 1, "action": "anonymise"}
    assert "purpose" in refused(**withdrawn)
    assert refused(**withdrawn, purpose="sales") == {
        "purpose": ["this purpose does not rest on consent"]
    }
    assert "purpose" in refused(**base, action="anonymise", purpose="marketing")
    assert len(rules(store.session)) == len(SHIPPED_RULES)


def test_a_sweep_killed_half_way_and_rerun_ends_as_one_clean_run(
    make_app: Callable[..., Flask], clock: FixedClock
) -> None:
    class Killed(Exception):
        """The process dies here."""

    def populate(app: Flask) -> list[str]:
        """40 customers, each due for one rule or none: every third inactive for years, every
        fifth a former customer for two years, every fourth (other) left 100 days ago; every
        seventh under a hold."""
        ids = []
        with app.app_context(), db.transaction():
            store = runtime.customer_store()
            start = clock.now()
            for i in range(40):
                created = start - dt.timedelta(days=1200 if i % 3 == 0 else 800)
                store.now = created
                customer_id = store.create(person(i), region="EU")
                add_interaction(store, customer_id, kind="purchase", amount="10", currency="EUR",
                                text=f"order {i}")  # fmt: skip
                if i % 5 == 0:
                    store.end_relationship(customer_id, created)
                elif i % 4 == 0:
                    store.now = start - dt.timedelta(days=100)
                    store.end_relationship(customer_id, store.now)
                if i % 7 == 0:
                    place_hold(store.session, customer_id, reason="Audit by the regulator",
                               by="usr_legal", now=store.now,
                               notes=runtime.note_cipher())  # fmt: skip
                ids.append(customer_id)
        return ids

    def snapshot(app: Flask, ids: list[str]) -> list[tuple[Any, ...]]:
        with app.app_context():
            store = runtime.customer_store()
            state = []
            for customer_id in ids:
                row = store.session.get(Customer, customer_id)
                assert row is not None
                texts = store.session.scalars(
                    sa.select(Interaction.text_ciphertext.is_not(None))
                    .where(Interaction.customer_id == customer_id)
                ).all()  # fmt: skip
                fields = stored_fields(store, customer_id) if row.status == "active" else set()
                state.append((row.status, row.erasure, sorted(fields), texts))
            return state

    def run(app: Flask, kill_after: int | None = None) -> None:
        commits = [0]

        def commit() -> None:
            if kill_after is not None and commits[0] == kill_after:
                raise Killed
            commits[0] += 1
            db.session.commit()

        with app.app_context():
            store = runtime.customer_store()
            runner = Sweep(db.session, store.keyring, store.catalogue, now=clock.now(),
                           batch_size=4, commit=commit)  # fmt: skip
            try:
                runner.run(dry_run=False)
            except Killed:
                db.session.rollback()

    clean, interrupted = make_app(), make_app()
    clean_ids, interrupted_ids = populate(clean), populate(interrupted)
    run(clean)
    run(interrupted, kill_after=3)
    assert snapshot(interrupted, interrupted_ids) != snapshot(clean, clean_ids)  # it was cut short
    run(interrupted)
    assert snapshot(interrupted, interrupted_ids) == snapshot(clean, clean_ids)

    with interrupted.app_context():
        store = runtime.customer_store()
        done = [
            (action, customer_id)
            for action, outcome, _reason, customers, _names in retention_events(store)
            if outcome == "allowed"
            for customer_id in customers.split()
        ]
        # every erasure recorded exactly once, though the first run died in the middle
        assert len(done) == len(set(done))
        assert {action for action, _c in done} == {
            "retention.erase_customer", "retention.anonymise", "retention.erase_field",
        }  # fmt: skip
        assert all(interrupted_ids.index(c) % 7 for _action, c in done)  # no held customer
        runtime.audit_log().seal(db.session, now=clock.now())
        assert runtime.audit_log().verify(db.session, now=clock.now()).ok
