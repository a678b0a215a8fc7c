"""Retention as staff use it from the API or the admin UI: the rules (admins change them;
admins and compliance officers read them), the overview of the rules with the legal holds in
force, and the sweep on demand (a dry run for both roles, the real one for admins). Every call
checks the principal's role (``Forbidden`` otherwise) and records its audit events in the
caller's transaction; nothing here commits, except the sweep, batch by batch, through the
``commit`` it is given."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.auth.principal import Principal
from vault.customers.service import CustomerStore
from vault.errors import Conflict
from vault.governance.legal_holds import holds
from vault.governance.models import LegalHold, RetentionRule
from vault.governance.retention import Sweep, SweepReport, run_sweep
from vault.governance.retention_rules import (
    create_rule,
    delete_rule,
    get_rule,
    rules,
    update_rule,
)

READERS = ("admin", "compliance_officer")


class RetentionRules:
    """The retention rules and the sweep, as ``principal`` may use them. ``store`` gives the
    request's customer store (the catalogue and the key ring) when a call needs it;
    ``sweep_lock`` the lock of the sweep (its value: whether it was taken); ``commit``,
    ``forget_mail`` and ``purge_wal`` are what the sweep calls after each batch, after an
    erasure's batch and once it erased something (``vault.governance.retention.Sweep``)."""

    READ = "retention rules are for admins and officers"
    CHANGE = "retention rules are changed by admins"

    def __init__(
        self, session: Session, context: AuditContext, principal: Principal, *,
        now: dt.datetime, store: Callable[[], CustomerStore],
        sweep_lock: Callable[[], AbstractContextManager[bool]], commit: Callable[[], None],
        forget_mail: Callable[[list[str]], object], purge_wal: Callable[[], object],
    ) -> None:  # fmt: skip
        self.session, self.context, self.principal, self.now = session, context, principal, now
        self.store, self.sweep_lock, self.commit = store, sweep_lock, commit
        self.forget_mail, self.purge_wal = forget_mail, purge_wal

    def _event(self, action: str, **details: Any) -> None:
        record_event(self.session, self.context, action=action, outcome="allowed",
                     now=self.now, **details)  # fmt: skip

    def _reader(self) -> None:
        self.principal.require_role(*READERS, because=self.READ)

    def _admin(self) -> str:
        return self.principal.require_role("admin", because=self.CHANGE)

    def all(self) -> list[RetentionRule]:
        """Every rule (``retention_rule.read``)."""
        self._reader()
        found = rules(self.session)
        self._event("retention_rule.read")
        return found

    def rule(self, rule_id: str) -> RetentionRule:
        """One rule (``retention_rule.read`` naming it); raises ``NotFound``."""
        self._reader()
        rule = get_rule(self.session, rule_id)
        self._event("retention_rule.read", reason=rule.id)
        return rule

    def overview(self) -> tuple[list[RetentionRule], list[LegalHold]]:
        """Every rule and the legal holds in force (``retention.read``, and
        ``legal_hold.read`` naming the held customers when there are any)."""
        self._reader()
        self._event("retention.read")
        found = rules(self.session)
        active = holds(self.session, active_only=True)
        if active:
            self._event("legal_hold.read", customer_ids=[h.customer_id for h in active])
        return found, active

    def add(self, **rule: Any) -> RetentionRule:
        """A new rule (``create_rule``'s arguments; ``retention_rule.create``)."""
        admin = self._admin()
        with self.session.begin_nested():
            created = create_rule(self.session, self.store().catalogue, by=admin, now=self.now,
                                  **rule)  # fmt: skip
            self._event("retention_rule.create",
                        field_names=[created.field] if created.field else (),
                        reason=created.id)  # fmt: skip
        return created

    def change(self, rule_id: str, **changes: Any) -> RetentionRule:
        """Change a rule's period, description or whether it is enabled
        (``retention_rule.update``); nothing changes when it raises."""
        self._admin()
        with self.session.begin_nested():
            rule = update_rule(self.session, rule_id, now=self.now, **changes)
            self._event("retention_rule.update", reason=rule.id)
        return rule

    def remove(self, rule_id: str) -> None:
        """Delete a rule (``retention_rule.delete``)."""
        self._admin()
        with self.session.begin_nested():
            delete_rule(self.session, rule_id)
            self._event("retention_rule.delete", reason=rule_id)

    def sweep(self, *, dry_run: bool, batch_size: int) -> SweepReport:
        """Run the sweep now: a dry run reports (admins and officers), a real one applies the
        rules (admins). Raises ``Conflict`` (``sweep_running``) while another sweep runs."""
        if dry_run:
            self.principal.require_role(*READERS, because="dry runs are for admins and officers")
        else:
            self.principal.require_role("admin", because="the retention sweep is run by admins")
        store = self.store()
        with self.sweep_lock() as taken:
            if not taken:
                raise Conflict("another retention sweep is running", code="sweep_running")
            sweep = Sweep(self.session, store.keyring, store.catalogue, now=self.now,
                          context=self.context, batch_size=batch_size, commit=self.commit,
                          forget_mail=self.forget_mail)  # fmt: skip
            return run_sweep(sweep, dry_run=dry_run, purge_wal=self.purge_wal)
