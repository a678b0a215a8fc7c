"""The audit trail as compliance officers and admins review it from the API or the admin UI:
pages of events, verification of the sealed log, and exports. Every use checks the caller's
role (``Forbidden`` otherwise) and is itself audited in the caller's transaction; an export
commits its own event (through the ``commit`` it is given) before the events stream."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.integrity import AuditLog, VerifyReport
from vault.audit.models import AuditEvent
from vault.audit.query import (
    AuditFilter,
    EventWindow,
    iter_events,
    page_of_events,
    window_of_events,
)
from vault.audit.service import AuditContext, record_event
from vault.db import last_days, utc_day

AUDIT_ROLES = ("compliance_officer", "admin")


class Caller(Protocol):
    """Who reviews (``vault.auth.principal.Principal`` is one)."""

    def require_role(self, *roles: str, because: str) -> str: ...


class AuditReview:
    """The audit trail as ``principal`` may review it; ``log`` verifies the sealed log."""

    AUDITORS_ONLY = "the audit trail is for compliance officers and admins"

    def __init__(
        self, session: Session, context: AuditContext, principal: Caller, *, now: dt.datetime,
        log: Callable[[], AuditLog], commit: Callable[[], None],
    ) -> None:  # fmt: skip
        self.session, self.context, self.principal, self.now = session, context, principal, now
        self.log, self.commit = log, commit

    def _auditor(self) -> None:
        self.principal.require_role(*AUDIT_ROLES, because=self.AUDITORS_ONLY)

    def _event(self, action: str, reason: str = "") -> None:
        record_event(self.session, self.context, action=action, outcome="allowed",
                     now=self.now, reason=reason)  # fmt: skip

    def _verify(self, *, intact: str) -> VerifyReport:
        report = self.log().verify(self.session, now=self.now)
        self._event("audit.verify", reason=intact if report.ok else "broken")
        return report

    def page(
        self, filters: AuditFilter, *, limit: int, before_id: int | None
    ) -> tuple[list[AuditEvent], int | None]:
        """Matching events, newest first, and the id to continue before (``audit.read``)."""
        self._auditor()
        found = page_of_events(self.session, filters, limit=limit, before_id=before_id)
        self._event("audit.read")
        return found

    def by_day(self, days: int = 14) -> list[tuple[str, int, int]]:
        """Events and refused attempts per day (``events_by_day``): counts, not events, so
        not itself an audited read."""
        self._auditor()
        return events_by_day(self.session, now=self.now, days=days)

    def verify(self) -> VerifyReport:
        """Verify the sealed log (``audit.verify``: ``intact`` or ``broken``)."""
        self._auditor()
        return self._verify(intact="intact")

    def log_page(
        self, filters: AuditFilter, *, limit: int, verify: bool, before_id: int | None = None,
        after_id: int | None = None,
    ) -> tuple[EventWindow, VerifyReport | None]:  # fmt: skip
        """The admin UI's page: the matching events before or after an id, or the newest
        (``window_of_events``) and, with ``verify``, the log verified (``audit.verify``:
        ``ok`` or ``broken``), then ``audit.read``."""
        self._auditor()
        window = window_of_events(self.session, filters, limit=limit, before_id=before_id,
                                  after_id=after_id)  # fmt: skip
        verified = self._verify(intact="ok") if verify else None
        self._event("audit.read")
        return window, verified

    def export(self, filters: AuditFilter, *, format: str) -> Iterator[AuditEvent]:
        """Every matching event, oldest first, read in chunks as the caller iterates; the
        export's own event (``audit.export``) is committed first."""
        self._auditor()
        self._event("audit.export", reason=format)
        self.commit()
        return iter_events(self.session, filters)


def events_by_day(session: Session, *, now: dt.datetime, days: int) -> list[tuple[str, int, int]]:
    """(UTC day, events, refused attempts) for each of the last ``days`` days, oldest first:
    counts only."""
    day = utc_day(AuditEvent.occurred_at)
    since = now - dt.timedelta(days=days)
    rows = session.execute(
        sa.select(day, sa.func.count(), sa.func.count().filter(AuditEvent.outcome == "denied"))
        .where(AuditEvent.occurred_at >= since)
        .group_by(day)
    )
    counted = {str(d)[:10]: (int(total), int(denied)) for d, total, denied in rows}
    return [(d, *counted.get(d, (0, 0))) for d in last_days(now, days)]
