"""The staff queue of privacy requests: most urgent first, with due dates and overdue flags,
and the worker's pass over their deadlines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.crypto.cursors import CursorSigner
from vault.errors import NotFound
from vault.governance.models import PrivacyRequest
from vault.privacy.desk import (
    ADDRESS_DIGEST_KEPT,
    OPEN_STATUSES,
    UNVERIFIED_KEPT,
    PrivacyDesk,
)


@dataclasses.dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[PrivacyRequest]
    next_cursor: str | None


LISTING = "privacy_requests"  # what the queue's cursors are bound to


def queue_page(
    session: Session, *, now: dt.datetime, cursors: CursorSigner, status: str | None = None,
    kind: str | None = None, overdue: bool | None = None, limit: int = 50,
    cursor: str | None = None,
) -> QueuePage:  # fmt: skip
    """Requests by due date (soonest first), filtered; ``overdue`` selects open requests
    past their due date (or, false, the others). Raises ``ValidationFailed`` for a
    ``cursor`` that ``cursors`` did not give out."""
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
    if cursor:
        due, last_id = cursors.decode(LISTING, cursor)
        query = query.where(
            sa.or_(
                PrivacyRequest.due_at > due,
                sa.and_(PrivacyRequest.due_at == due, PrivacyRequest.id > last_id),
            )
        )
    rows = list(
        session.scalars(query.order_by(PrivacyRequest.due_at, PrivacyRequest.id).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode(LISTING, rows[-1].due_at, rows[-1].id) if more else None
    return QueuePage(rows, next_cursor)


def get_request(session: Session, request_id: str) -> PrivacyRequest:
    request = session.get(PrivacyRequest, request_id)
    if request is None:
        raise NotFound("no such privacy request")
    return request


def request_dict(request: PrivacyRequest, now: dt.datetime) -> dict[str, Any]:
    """The staff queue's view of a request (no personal value)."""
    return {
        "id": request.id,
        "type": request.type,
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
        "certificate": json.loads(request.certificate) if request.certificate else None,
    }


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
