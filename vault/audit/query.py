"""Reading the audit trail: filtered pages, a chunked iterator for exports, and the
per-customer view ("who accessed my data, for what purpose, when")."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.models import AuditEvent, AuditEventCustomer


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    customer: str | None = None
    action: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def apply(self, query: sa.Select[Any]) -> sa.Select[Any]:
        if self.actor:
            query = query.where(AuditEvent.actor_id == self.actor)
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.purpose:
            query = query.where(AuditEvent.purpose == self.purpose)
        if self.outcome:
            query = query.where(AuditEvent.outcome == self.outcome)
        if self.since:
            query = query.where(AuditEvent.occurred_at >= self.since)
        if self.until:
            query = query.where(AuditEvent.occurred_at < self.until)
        if self.customer:
            query = query.where(concerning(self.customer))
        return query


def concerning(customer_id: str) -> sa.ColumnElement[bool]:
    """Events that name ``customer_id``: sealed ones through their links, the few not yet
    sealed (not linked yet) through their list of customer ids."""
    padded = sa.literal(" ") + AuditEvent.customer_ids + sa.literal(" ")
    return sa.or_(
        AuditEvent.id.in_(
            sa.select(AuditEventCustomer.event_id).where(
                AuditEventCustomer.customer_id == customer_id
            )
        ),
        sa.and_(
            AuditEvent.seal_id.is_(None),
            padded.contains(f" {customer_id} ", autoescape=True),
        ),
    )


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "purpose": event.purpose,
        "action": event.action,
        "customer_ids": event.customer_ids.split() if event.customer_ids else [],
        "field_names": event.field_names.split() if event.field_names else [],
        "outcome": event.outcome,
        "reason": event.reason,
        "request_id": event.request_id,
        "client_address": event.client_address,
        "sealed": event.seal_id is not None,
    }


def page_of_events(
    session: Session, filters: AuditFilter, *, limit: int, before_id: int | None
) -> tuple[list[AuditEvent], int | None]:
    """Newest first; returns the events and the id to continue before (or None)."""
    query = filters.apply(sa.select(AuditEvent))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


@dataclasses.dataclass(frozen=True)
class EventWindow:
    """A page of events, newest first, with where the pages beside it start: ``newer`` (the
    id to read after) and ``older`` (the id to read before), None at either end."""

    events: list[AuditEvent]
    newer: int | None
    older: int | None


def window_of_events(
    session: Session, filters: AuditFilter, *, limit: int, before_id: int | None = None,
    after_id: int | None = None,
) -> EventWindow:  # fmt: skip
    """The ``limit`` matching events before ``before_id`` (older) or after ``after_id``
    (newer), or the newest; newest first either way (keyset paging on the id, both ways)."""
    query = filters.apply(sa.select(AuditEvent))
    if after_id is not None:
        rows = list(session.scalars(
            query.where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit + 1)
        ))  # fmt: skip
        more_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        older = rows[-1].id if rows else after_id + 1
        return EventWindow(rows, rows[0].id if more_newer and rows else None, older)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more_older = len(rows) > limit
    rows = rows[:limit]
    newer = rows[0].id if before_id is not None and rows else None
    return EventWindow(rows, newer, rows[-1].id if more_older and rows else None)


def iter_events(
    session: Session, filters: AuditFilter, *, chunk: int = 1000
) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, read ``chunk`` at a time in short transactions (a
    long export never holds the database)."""
    after = 0
    while True:
        query = filters.apply(sa.select(AuditEvent)).where(AuditEvent.id > after)
        rows = list(session.scalars(query.order_by(AuditEvent.id).limit(chunk)))
        session.commit()
        if not rows:
            return
        yield from rows
        after = rows[-1].id


# What the customer's export lists as accesses to its data: reads and changes of the record,
# its consents and its interactions. Not legal holds (telling the customer would tip them off),
# nor the staff's work on privacy requests, access requests or the audit trail itself.
DATA_ACCESS_ACTIONS = ("customer.", "consent.", "interaction.")


def accesses_of_customer(
    session: Session, customer_id: str, *, chunk: int = 1000
) -> Iterator[dict[str, Any]]:
    """Which actors accessed a customer's data, for what purpose and when (for the privacy
    export, GDPR Art. 15(1)(c)): allowed data accesses only (``DATA_ACCESS_ACTIONS``), oldest
    first, read ``chunk`` rows at a time so that a long history streams in flat memory."""
    data_access = sa.or_(*(AuditEvent.action.startswith(p) for p in DATA_ACCESS_ACTIONS))
    rows = session.execute(
        sa.select(
            AuditEvent.occurred_at,
            AuditEvent.actor_kind,
            AuditEvent.actor_id,
            AuditEvent.purpose,
            AuditEvent.action,
            AuditEvent.field_names,
        )
        .where(concerning(customer_id), AuditEvent.outcome == "allowed", data_access)
        .order_by(AuditEvent.id)
        .execution_options(yield_per=chunk)
    )
    for r in rows:
        yield {
            "when": r.occurred_at.isoformat(),
            "actor_kind": r.actor_kind,
            "actor_id": r.actor_id,
            "purpose": r.purpose,
            "action": r.action,
            "field_names": r.field_names.split() if r.field_names else [],
        }
