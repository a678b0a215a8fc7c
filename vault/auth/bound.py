"""What every service bound to one caller shares: the session whose transaction it works in
(it flushes, the caller commits), the audit context its events are recorded under, the
principal whose roles it checks, and the time of the request; and, for those that read the
field catalogue, how to get it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.auth.principal import Principal

C = TypeVar("C")


class BoundService:
    def __init__(
        self, session: Session, context: AuditContext, principal: Principal, *, now: dt.datetime
    ) -> None:
        self.session, self.context, self.principal, self.now = session, context, principal, now

    def record(
        self, action: str, *, reason: str = "", field_names: Iterable[str] = (),
        customer_ids: Iterable[str] = (),
    ) -> None:  # fmt: skip
        """Record an allowed ``action`` in the session's transaction."""
        record_event(self.session, self.context, action=action, outcome="allowed",
                            now=self.now, reason=reason, field_names=field_names,
                            customer_ids=customer_ids)  # fmt: skip


class CatalogueService(BoundService, Generic[C]):
    """A bound service that reads the field catalogue: ``catalogue()`` gets the current one
    (read when the service first needs it)."""

    def __init__(
        self, session: Session, context: AuditContext, principal: Principal, *,
        now: dt.datetime, catalogue: Callable[[], C],
    ) -> None:  # fmt: skip
        super().__init__(session, context, principal, now=now)
        self._catalogue = catalogue
