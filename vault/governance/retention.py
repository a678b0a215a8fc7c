"""The retention sweep, which applies the rules (``vault.governance.retention_rules``).

A rule erases a category's or a field's values, or anonymises or erases the whole customer,
``period_days`` after a trigger. The sweep is batched (each batch commits with its audit
events), idempotent (what is erased is no longer due) and therefore resumable: a sweep killed
half-way and run again ends where one clean run would. A customer under a legal hold is never
touched; the sweep records that it was held back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.crypto.envelope import KeyRing
from vault.customers import packing
from vault.customers.catalogue import Catalogue
from vault.customers.models import Customer
from vault.governance.erasure import (
    erase_customers,
    erase_fields,
    held_among,
    lock_erasable,
    privacy_request_ids,
    stored_field_names,
)
from vault.governance.models import ConsentState, RetentionRule
from vault.governance.retention_rules import rule_fields

CUSTOMER_ACTIONS = ("erase_customer", "anonymise")  # applied before field erasures
SWEEP_CONTEXT = AuditContext(actor_kind="system", actor_id="retention")


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
    events), then ``forget_mail`` with the references of the mail kept about the privacy
    requests of the customers it erased or anonymised (``Mailer.forget``); ``progress`` with
    the number of customers each batch examined."""

    def __init__(
        self, session: Session, keyring: KeyRing, catalogue: Catalogue, *, now: dt.datetime,
        context: AuditContext = SWEEP_CONTEXT, batch_size: int = DEFAULT_BATCH,
        commit: Callable[[], None] | None = None,
        forget_mail: Callable[[list[str]], object] | None = None,
    ) -> None:  # fmt: skip
        self.session = session
        self.keyring = keyring
        self.catalogue = catalogue
        self.now = now
        self.context = context
        self.batch_size = batch_size
        self.commit = commit or (lambda: None)
        self.forget_mail = forget_mail or (lambda _references: None)
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
                     reason="dry_run" if dry_run else "applied", now=self.now)  # fmt: skip
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
                erased_mail = self._erase_batch(rule, outcome, ids)
                self.commit()
                if erased_mail:
                    self.forget_mail(erased_mail)
            progress(len(batch))

    def _erase_batch(self, rule: RetentionRule, outcome: RuleOutcome, ids: list[str]) -> list[str]:
        """Erase what the rule erases of ``ids``; returns the references of the mail about
        the privacy requests of the customers erased whole (none for field erasures)."""
        session, action = self.session, f"retention.{rule.action}"
        mail: list[str] = []
        erasable = lock_erasable(session, ids)
        if erasable.held:
            outcome.held += len(erasable.held)
            record_event(session, self.context, action=action, outcome="denied",
                         reason="legal_hold", customer_ids=erasable.held, now=self.now)  # fmt: skip
        if not erasable.free:
            return mail
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
                            anonymise=rule.action == "anonymise", cause="retention")  # fmt: skip
            mail = privacy_request_ids(session, customers)
        if customers:
            outcome.erased += len(customers)
            record_event(session, self.context, action=action, outcome="allowed",
                         reason=rule.id, customer_ids=customers, field_names=names,
                         now=self.now)  # fmt: skip
        return mail


def run_sweep(
    sweep: Sweep, *, dry_run: bool, purge_wal: Callable[[], object], bar: Any = None
) -> SweepReport:
    """Run ``sweep`` (the worker's, the command's and the API's way alike): with ``bar``, a
    progress bar factory called with the number of candidates (its value's ``update`` counts
    what each batch examined); then, when it erased something, ``purge_wal`` takes the
    erased rows' old pages out of SQLite's WAL."""
    if bar is None:
        report = sweep.run(dry_run=dry_run)
    else:
        with bar(sweep.candidates()) as progress:
            report = sweep.run(dry_run=dry_run, progress=progress.update)
    if report.erased and not dry_run:
        purge_wal()
    return report
