"""Retention rules and the sweep that applies them.

A rule erases a category's or a field's values, or anonymises or erases the whole customer,
``period_days`` after a trigger. The sweep is batched (each batch commits with its audit
events), idempotent (what is erased is no longer due) and therefore resumable: a sweep killed
half-way and run again ends where one clean run would. A customer under a legal hold is never
touched; the sweep records that it was held back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.crypto.envelope import KeyRing
from vault.customers import packing
from vault.customers.catalogue import Catalogue
from vault.customers.models import Customer
from vault.errors import NotFound, ValidationFailed
from vault.governance import versions
from vault.governance.erasure import (
    erase_customers,
    erase_fields,
    held_among,
    lock_erasable,
    stored_field_names,
)
from vault.governance.models import (
    RETENTION_ACTIONS,
    RETENTION_TRIGGERS,
    ConsentState,
    Purpose,
    RetentionRule,
)

COUNTER = "retention"
MAX_PERIOD_DAYS = 36_500
CUSTOMER_ACTIONS = ("erase_customer", "anonymise")  # applied before field erasures
SWEEP_CONTEXT = AuditContext(actor_kind="system", actor_id="retention")

# What `vault init` ships (README.md, "Retention"): each rule's id is stable, so a second init
# does not add them again, and an admin's edits or deletions are kept.
SHIPPED_RULES: tuple[dict[str, Any], ...] = (
    {
        "id": "ret_interests_after_marketing_withdrawal",
        "field": "interests",
        "trigger": "consent_withdrawn",
        "purpose": "marketing",
        "period_days": 30,
        "action": "erase_field",
        "description": "Interests serve marketing only: erased 30 days after the customer "
        "withdraws marketing consent (time for the opt-out to reach every system).",
    },
    {
        "id": "ret_national_id_after_relationship",
        "field": "national_id",
        "trigger": "relationship_ended",
        "period_days": 90,
        "action": "erase_field",
        "description": "A national id is needed while the contract runs: erased 90 days "
        "after the relationship ends.",
    },
    {
        "id": "ret_anonymise_former_customers",
        "trigger": "relationship_ended",
        "period_days": 730,
        "action": "anonymise",
        "description": "Former customers are anonymised two years after the relationship "
        "ends; purchases stay, without a person, for reporting.",
    },
    {
        "id": "ret_erase_inactive_customers",
        "trigger": "last_activity",
        "period_days": 1095,
        "action": "erase_customer",
        "description": "A customer with no activity (no update, interaction or consent "
        "event) for three years is erased.",
    },
)


# --- rules ------------------------------------------------------------------------------------


def rules(session: Session) -> list[RetentionRule]:
    return list(session.scalars(sa.select(RetentionRule).order_by(RetentionRule.id)))


def get_rule(session: Session, rule_id: str) -> RetentionRule:
    rule = session.get(RetentionRule, rule_id)
    if rule is None:
        raise NotFound("no such retention rule")
    return rule


def _check_target(
    catalogue: Catalogue, action: str, category: str | None, field: str | None
) -> dict[str, list[str]]:
    if action not in RETENTION_ACTIONS:
        return {"action": [f"must be one of {', '.join(RETENTION_ACTIONS)}"]}
    if action != "erase_field":
        whole = f"{action} applies to the whole customer: give no category or field"
        return {"action": [whole]} if category or field else {}
    categories = {spec.category for spec in catalogue.fields.values()}
    problems = [
        (bool(category) == bool(field), "field", "give exactly one of category or field"),
        (bool(field) and field not in catalogue, "field", "unknown field"),
        (bool(category) and category not in categories, "category",
         "no field of the catalogue is in this category"),
    ]  # fmt: skip
    return next(({name: [message]} for bad, name, message in problems if bad), {})


def _check_trigger(session: Session, trigger: str, purpose: str | None) -> dict[str, list[str]]:
    if trigger not in RETENTION_TRIGGERS:
        return {"trigger": [f"must be one of {', '.join(RETENTION_TRIGGERS)}"]}
    if trigger != "consent_withdrawn":
        return {"purpose": ["only a consent_withdrawn rule names a purpose"]} if purpose else {}
    known = session.get(Purpose, purpose) if purpose else None
    if known is None:
        return {"purpose": ["consent_withdrawn needs the purpose whose consent was withdrawn"]}
    if known.legal_basis != "consent":
        return {"purpose": ["this purpose does not rest on consent"]}
    return {}


def _check_period(period_days: Any) -> dict[str, list[str]]:
    if not isinstance(period_days, int) or not 0 <= period_days <= MAX_PERIOD_DAYS:
        return {"period_days": [f"must be a whole number of days from 0 to {MAX_PERIOD_DAYS}"]}
    return {}


def create_rule(
    session: Session, catalogue: Catalogue, *, trigger: str, period_days: int, action: str,
    category: str | None = None, field: str | None = None, purpose: str | None = None,
    description: str = "", enabled: bool = True, by: str, now: dt.datetime,
    rule_id: str | None = None,
) -> RetentionRule:  # fmt: skip
    """Add a rule. Raises ``ValidationFailed`` naming every bad part; nothing is written then."""
    errors = {
        **_check_target(catalogue, action, category, field),
        **_check_trigger(session, trigger, purpose),
        **_check_period(period_days),
    }
    if len(description) > 500:
        errors["description"] = ["must be at most 500 characters"]
    if errors:
        raise ValidationFailed("the retention rule is invalid", errors=errors)
    rule = RetentionRule(
        id=rule_id or "ret_" + secrets.token_hex(10),
        category=category or None,
        field=field or None,
        trigger=trigger,
        purpose=purpose or None,
        period_days=period_days,
        action=action,
        description=description,
        enabled=enabled,
        created_by=by,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    session.flush()
    versions.bump(session, COUNTER)
    return rule


def update_rule(
    session: Session, rule_id: str, *, now: dt.datetime, period_days: int | None = None,
    enabled: bool | None = None, description: str | None = None,
) -> RetentionRule:  # fmt: skip
    """Change a rule's period, description or whether it is enabled (what it erases and when
    it starts counting make a different rule: add that one instead)."""
    rule = get_rule(session, rule_id)
    errors = _check_period(period_days) if period_days is not None else {}
    if description is not None and len(description) > 500:
        errors["description"] = ["must be at most 500 characters"]
    if errors:
        raise ValidationFailed("the retention rule is invalid", errors=errors)
    if period_days is not None:
        rule.period_days = period_days
    if enabled is not None:
        rule.enabled = enabled
    if description is not None:
        rule.description = description
    rule.updated_at = now
    session.flush()
    versions.bump(session, COUNTER)
    return rule


def delete_rule(session: Session, rule_id: str) -> None:
    session.delete(get_rule(session, rule_id))
    session.flush()
    versions.bump(session, COUNTER)


def seed_rules(session: Session, now: dt.datetime) -> list[str]:
    """Ship the default rules once: only while retention was never configured, so a second
    `vault init` changes nothing and an admin's deletions stay deleted."""
    if versions.current(session, COUNTER) or session.scalar(sa.select(RetentionRule.id).limit(1)):
        return []
    changes = []
    for spec in SHIPPED_RULES:
        rule = RetentionRule(
            **spec, enabled=True, created_by="vault init", created_at=now, updated_at=now
        )
        session.add(rule)
        changes.append(f"created retention rule {rule.id}")
    session.flush()
    versions.bump(session, COUNTER)
    return changes


def rule_fields(rule: RetentionRule, catalogue: Catalogue) -> list[str]:
    """The fields an ``erase_field`` rule erases now (a category's fields as the catalogue
    has them at the time of the sweep)."""
    if rule.field:
        return [rule.field] if rule.field in catalogue else []
    return sorted(n for n, s in catalogue.fields.items() if s.category == rule.category)


def rule_dict(rule: RetentionRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "category": rule.category,
        "field": rule.field,
        "trigger": rule.trigger,
        "purpose": rule.purpose,
        "period_days": rule.period_days,
        "action": rule.action,
        "description": rule.description,
        "enabled": rule.enabled,
        "created_by": rule.created_by,
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }


# --- the sweep --------------------------------------------------------------------------------


@dataclasses.dataclass
class RuleOutcome:
    rule_id: str
    action: str
    trigger: str
    period_days: int
    fields: list[str]
    due: int = 0  # past the trigger's period with something left to erase
    erased: int = 0  # customers erased (or, in a dry run, that would be)
    held: int = 0  # due, but under a legal hold: untouched

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SweepReport:
    dry_run: bool
    ran_at: dt.datetime
    rules: list[RuleOutcome]

    @property
    def erased(self) -> int:
        return sum(r.erased for r in self.rules)

    @property
    def held(self) -> int:
        return sum(r.held for r in self.rules)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "ran_at": self.ran_at.isoformat(),
            "erased": self.erased,
            "held": self.held,
            "rules": [r.as_dict() for r in self.rules],
        }


def _trigger_condition(rule: RetentionRule, cutoff: dt.datetime) -> sa.ColumnElement[bool]:
    if rule.trigger == "created":
        return Customer.created_at <= cutoff
    if rule.trigger == "last_activity":
        return Customer.last_activity_at <= cutoff
    if rule.trigger == "relationship_ended":
        return Customer.relationship_ended_at <= cutoff
    withdrawn = sa.select(ConsentState.customer_id).where(  # consent_withdrawn
        ConsentState.purpose_code == rule.purpose,
        ConsentState.granted.is_(False),
        ConsentState.updated_at <= cutoff,
    )
    return Customer.id.in_(withdrawn)  # driven by the consent-state index, not per customer


def _sweep_order(rule: RetentionRule) -> tuple[int, str]:
    action = rule.action
    return (CUSTOMER_ACTIONS.index(action) if action in CUSTOMER_ACTIONS else 2, rule.id)


# Customers per transaction. Larger batches mean fewer commits (on SQLite each commit of this
# size checkpoints the WAL, which dominates); the ceiling keeps the IN lists within SQLite's
# and PostgreSQL's bound-parameter limits and the write lock short.
DEFAULT_BATCH = 2000
MAX_BATCH = 10_000


class Sweep:
    """One run of every enabled rule. ``commit`` is called after each batch (with its audit
    events); ``progress`` with the number of customers each batch examined."""

    def __init__(
        self, session: Session, keyring: KeyRing, catalogue: Catalogue, *, now: dt.datetime,
        context: AuditContext = SWEEP_CONTEXT, batch_size: int = DEFAULT_BATCH,
        commit: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.session = session
        self.keyring = keyring
        self.catalogue = catalogue
        self.now = now
        self.context = context
        self.batch_size = batch_size
        self.commit = commit or (lambda: None)
        self.rules = sorted(
            self.session.scalars(sa.select(RetentionRule).where(RetentionRule.enabled)),
            key=_sweep_order,
        )

    def _due(self, rule: RetentionRule) -> sa.Select[Any]:
        cutoff = self.now - dt.timedelta(days=rule.period_days)
        return sa.select(Customer.id).where(
            Customer.status == "active", _trigger_condition(rule, cutoff)
        )

    def candidates(self) -> int:
        """How many customers the rules' triggers select (the progress bar's length)."""
        total = 0
        for rule in self.rules:
            query = self._due(rule).with_only_columns(sa.func.count())
            total += self.session.scalar(query) or 0
        return total

    def run(self, *, dry_run: bool, progress: Callable[[int], None] | None = None) -> SweepReport:
        outcomes = []
        for rule in self.rules:
            fields = rule_fields(rule, self.catalogue) if rule.action == "erase_field" else []
            outcome = RuleOutcome(rule.id, rule.action, rule.trigger, rule.period_days, fields)
            if rule.action != "erase_field" or fields:
                self._apply(rule, outcome, dry_run=dry_run, progress=progress or (lambda _n: None))
            outcomes.append(outcome)
        # The run itself (its erasures have their own events, batch by batch).
        record_event(self.session, self.context, action="retention.run", outcome="allowed",
                     reason="dry_run" if dry_run else "", now=self.now)  # fmt: skip
        self.commit()
        return SweepReport(dry_run, self.now, outcomes)

    def _apply(
        self, rule: RetentionRule, outcome: RuleOutcome, *, dry_run: bool,
        progress: Callable[[int], None],
    ) -> None:  # fmt: skip
        # The due ids are read once (one scan), then handled a batch at a time; each batch
        # checks again, under lock, that its customers are still active and not held.
        # (sorted here: an ORDER BY would lead SQLite to walk the primary key, not the index)
        due = sorted(self.session.scalars(self._due(rule)))
        wanted = frozenset(outcome.fields)
        for start in range(0, len(due), self.batch_size):
            batch = due[start : start + self.batch_size]
            if rule.action == "erase_field":
                # names only: which customers still hold one of the fields (nothing decrypted)
                rows = self.session.execute(
                    sa.select(Customer.id, Customer.sealed_values).where(Customer.id.in_(batch))
                )
                ids = [r.id for r in rows if wanted & packing.names(r.sealed_values)]
            else:
                ids = batch
            outcome.due += len(ids)
            if dry_run:
                held = held_among(self.session, ids)
                outcome.held += len(held)
                outcome.erased += len(ids) - len(held)
            elif ids:
                self._erase_batch(rule, outcome, ids)
                self.commit()
            progress(len(batch))

    def _erase_batch(self, rule: RetentionRule, outcome: RuleOutcome, ids: list[str]) -> None:
        session, action = self.session, f"retention.{rule.action}"
        erasable = lock_erasable(session, ids)
        if erasable.held:
            outcome.held += len(erasable.held)
            record_event(session, self.context, action=action, outcome="denied",
                         reason="legal_hold", customer_ids=erasable.held, now=self.now)  # fmt: skip
        if not erasable.free:
            return
        if rule.action == "erase_field":
            payloads = dict(
                session.execute(
                    sa.select(Customer.id, Customer.sealed_values).where(
                        Customer.id.in_(erasable.free)
                    )
                ).all()
            )
            erased = erase_fields(session, payloads, outcome.fields, now=self.now)
            customers = sorted(erased)
            names = sorted({n for names in erased.values() for n in names})
        else:
            customers = erasable.free
            names = stored_field_names(session, customers)
            erase_customers(session, self.keyring, customers, now=self.now,
                            anonymise=rule.action == "anonymise")  # fmt: skip
        if customers:
            outcome.erased += len(customers)
            record_event(session, self.context, action=action, outcome="allowed",
                         reason=rule.id, customer_ids=customers, field_names=names,
                         now=self.now)  # fmt: skip
