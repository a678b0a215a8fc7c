"""The staff queue of privacy requests: most urgent first, with due dates and overdue flags,
and the worker's pass over their deadlines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.auth.principal import Principal
from vault.crypto.cursors import CursorSigner
from vault.db import after_position
from vault.errors import or_not_found
from vault.events.notices import Notices, awaiting_acknowledgement, erasure_notices
from vault.governance.models import PrivacyRequest
from vault.privacy.desk import (
    ADDRESS_DIGEST_KEPT,
    OPEN_STATUSES,
    UNVERIFIED_KEPT,
    PrivacyDesk,
)
from vault.privacy.outcomes import Outgoing


@dataclasses.dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[PrivacyRequest]
    next_cursor: str | None


LISTING = "privacy_requests"  # what the queue's cursors are bound to


def queue_page(
    session: Session, *, now: dt.datetime, cursors: CursorSigner, status: str | None = None,
    kind: str | None = None, overdue: bool | None = None, awaiting: bool | None = None,
    limit: int = 50, cursor: str | None = None,
) -> QueuePage:  # fmt: skip
    """Requests by due date (soonest first), filtered; ``overdue`` selects open requests
    past their due date (or, false, the others); ``awaiting`` completed erasures that a
    subscribed system has not yet acknowledged (or, false, the others). Raises
    ``ValidationFailed`` for a ``cursor`` that ``cursors`` did not give out."""
    query = sa.select(PrivacyRequest)
    if status:
        query = query.where(PrivacyRequest.status == status)
    if kind:
        query = query.where(PrivacyRequest.type == kind)
    late = sa.and_(PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_at < now)
    if overdue is True:
        query = query.where(late)
    elif overdue is False:
        query = query.where(sa.not_(late))
    if awaiting is not None:
        waiting = sa.and_(
            PrivacyRequest.type == "erasure",
            PrivacyRequest.status == "completed",
            awaiting_acknowledgement(PrivacyRequest.customer_id),
        )
        query = query.where(waiting if awaiting else sa.not_(waiting))
    if cursor:
        due, last_id = cursors.decode(LISTING, cursor)
        query = query.where(after_position(PrivacyRequest.due_at, PrivacyRequest.id, due, last_id))
    rows = list(
        session.scalars(query.order_by(PrivacyRequest.due_at, PrivacyRequest.id).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode(LISTING, rows[-1].due_at, rows[-1].id) if more else None
    return QueuePage(rows, next_cursor)


def queue_figures(session: Session, *, now: dt.datetime, soon: dt.timedelta) -> dict[str, Any]:
    """The queue in counts: requests per status, and of the open ones those overdue and those
    due within ``soon``; completed erasures a subscribed system has not yet acknowledged."""
    counted = session.execute(
        sa.select(PrivacyRequest.status, sa.func.count()).group_by(PrivacyRequest.status)
    )
    by_status = {str(status): int(count) for status, count in counted}
    still_open = PrivacyRequest.status.in_(OPEN_STATUSES)
    overdue = session.scalar(
        sa.select(sa.func.count()).where(still_open, PrivacyRequest.due_at < now)
    )
    due_soon = session.scalar(
        sa.select(sa.func.count()).where(
            still_open, PrivacyRequest.due_at >= now, PrivacyRequest.due_at < now + soon
        )
    )
    awaiting = session.scalar(
        sa.select(sa.func.count()).where(
            PrivacyRequest.type == "erasure",
            PrivacyRequest.status == "completed",
            awaiting_acknowledgement(PrivacyRequest.customer_id),
        )
    )
    return {
        "by_status": by_status,
        "overdue": int(overdue or 0),
        "due_soon": int(due_soon or 0),
        "awaiting_acknowledgement": int(awaiting or 0),
    }


def get_request(session: Session, request_id: str) -> PrivacyRequest:
    return or_not_found(session.get(PrivacyRequest, request_id), "no such privacy request")


def request_dict(
    request: PrivacyRequest, now: dt.datetime, notices: Notices | None = None,
    certificate: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The staff queue's view of a request (no personal value): for an erasure, the systems
    told of it (``notices``) and its certificate as of now (``certificate``, else the one
    stored)."""
    stored = json.loads(request.certificate) if request.certificate else None
    view = {
        "id": request.id,
        "type": request.type,
        "purposes": request.purposes.split(),
        "status": request.status,
        "reason": request.reason,
        "channel": request.channel,
        "customer_id": request.customer_id,
        "identity_check": request.identity_check,
        "filed_by": request.filed_by,
        "received_at": request.received_at.isoformat(),
        "due_at": request.due_at.isoformat(),
        "overdue": request.status in OPEN_STATUSES and request.due_at < now,
        "extended": request.extended_at is not None,
        "extension_reason": request.extension_reason,
        "verified_at": request.verified_at.isoformat() if request.verified_at else None,
        "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        "certificate": certificate or stored,
    }
    if request.type == "erasure":
        view["notified"] = [n.as_dict() for n in notices.notices] if notices else []
        view["awaiting_acknowledgement"] = bool(notices and notices.awaiting)
    return view


def record_deadlines(desk: PrivacyDesk) -> dict[str, int]:
    """The worker's pass over ``desk``'s unit of work: unverified requests lapse after seven
    days, address digests are cleared after a day, and each request past its due date is
    recorded once (an audit event). Returns how many lapsed and how many are overdue."""
    lapsing = list(
        desk.session.scalars(
            sa.select(PrivacyRequest.id).where(
                PrivacyRequest.status == "pending_verification",
                PrivacyRequest.received_at < desk.now - UNVERIFIED_KEPT,
            )
        )
    )
    if lapsing:
        desk.session.execute(
            sa.update(PrivacyRequest)
            .where(PrivacyRequest.id.in_(lapsing))
            .values(status="rejected", reason="not_verified", code_digest=None)
        )
    desk.session.execute(
        sa.update(PrivacyRequest)
        .where(
            PrivacyRequest.address_digest.is_not(None),
            PrivacyRequest.received_at < desk.now - ADDRESS_DIGEST_KEPT,
        )
        .values(address_digest=None)
    )
    overdue = list(
        desk.session.scalars(
            sa.select(PrivacyRequest)
            .where(
                PrivacyRequest.status.in_(OPEN_STATUSES),
                PrivacyRequest.due_at < desk.now,
                PrivacyRequest.overdue_recorded_at.is_(None),
            )
            .with_for_update()
        )
    )
    for request in overdue:
        request.overdue_recorded_at = desk.now
        desk.audit("privacy_request.overdue", request, outcome="error", reason="overdue")
    desk.session.flush()
    return {"lapsed": len(lapsing), "overdue": len(overdue)}


FollowUp = Callable[[PrivacyDesk, Outgoing | None, str], None]


class PrivacyQueue:
    """The privacy-request queue as compliance officers use it from the API or the admin UI:
    the queue and its requests, requests filed for customers who asked by phone or letter,
    and due dates extended. Every call checks that ``principal`` is a compliance officer
    (``Forbidden`` otherwise) and records its audit events under ``context`` in
    ``session``'s transaction; ``desk`` gives the privacy desk of that transaction, and
    ``follow_up`` hands what must follow the commit of a filed request (an erasure's traces,
    the export's message) to the unit of work."""

    OFFICERS_ONLY = "the privacy-request queue is for compliance officers"

    def __init__(
        self, session: Session, context: AuditContext, principal: Principal, *,
        now: dt.datetime, cursors: Callable[[], CursorSigner], desk: Callable[[], PrivacyDesk],
        follow_up: FollowUp,
    ) -> None:  # fmt: skip
        self.session, self.context, self.principal, self.now = session, context, principal, now
        self.cursors, self.desk, self.follow_up = cursors, desk, follow_up

    def _officer(self) -> str:
        return self.principal.require_role("compliance_officer", because=self.OFFICERS_ONLY)

    def _read(self, requests: list[PrivacyRequest]) -> None:
        record_event(self.session, self.context, action="privacy_request.read",
                     outcome="allowed", now=self.now,
                     customer_ids=[r.customer_id for r in requests if r.customer_id])  # fmt: skip

    def view(self, request: PrivacyRequest) -> dict[str, Any]:
        """The queue's view of ``request`` now (``request_dict``)."""
        return self.views([request])[0]

    def views(self, requests: list[PrivacyRequest]) -> list[dict[str, Any]]:
        """The queue's views of ``requests`` now, their erasures' notices read at once."""
        erased = [r.customer_id for r in requests if r.type == "erasure" and r.customer_id]
        notices = erasure_notices(self.session, erased)
        views = []
        for request in requests:
            found = notices.get(request.customer_id or "")
            certificate = None
            if request.certificate and found is not None:
                certificate = self.desk().certificate_as_of(request.certificate, found)
            views.append(request_dict(request, self.now, found, certificate))
        return views

    def page(
        self, *, status: str | None = None, kind: str | None = None,
        overdue: bool | None = None, awaiting: bool | None = None, limit: int = 50,
        cursor: str | None = None,
    ) -> QueuePage:  # fmt: skip
        """The queue, soonest due first (``queue_page``; ``privacy_request.read`` naming the
        page's customers)."""
        self._officer()
        page = queue_page(self.session, now=self.now, cursors=self.cursors(), status=status,
                          kind=kind, overdue=overdue, awaiting=awaiting, limit=limit,
                          cursor=cursor)  # fmt: skip
        self._read(page.items)
        return page

    def figures(self, *, soon: dt.timedelta = dt.timedelta(days=7)) -> dict[str, Any]:
        """Counts for the dashboard (``queue_figures``)."""
        self._officer()
        return queue_figures(self.session, now=self.now, soon=soon)

    def get(self, request_id: str) -> PrivacyRequest:
        """One request (``privacy_request.read`` naming its customer); raises ``NotFound``."""
        self._officer()
        request = get_request(self.session, request_id)
        self._read([request])
        return request

    def file(
        self, kind: str, customer_id: str, *, channel: str, identity_check: str
    ) -> PrivacyRequest:
        """File a request made by phone, letter... (``PrivacyDesk.file``): it proceeds at
        once; what follows it goes after the commit. Nothing changes when it raises."""
        officer = self._officer()
        desk = self.desk()
        with self.session.begin_nested():
            request, outgoing = desk.file(kind, customer_id, channel=channel,
                                          identity_check=identity_check, by=officer)  # fmt: skip
        self.follow_up(desk, outgoing, request.id)
        return request

    def extend(self, request_id: str, *, reason: str) -> PrivacyRequest:
        """Extend a due date once by two months (``PrivacyDesk.extend``); nothing changes
        when it raises."""
        officer = self._officer()
        with self.session.begin_nested():
            return self.desk().extend(request_id, reason=reason, by=officer)
