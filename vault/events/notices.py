"""Who was told of an erasure, and who said they acted on it (GDPR Art. 17(2), 19): for each
customer erased or anonymised, the subscribed systems its event was delivered to, when, and
when each system's API client acknowledged it; and a client that acknowledged from the pull
feed without a subscription."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.events.models import Acknowledgement, Delivery, Event, Subscription

ERASURE_EVENTS = ("customer.erased", "customer.anonymised")
_clients = sa.table("api_clients", sa.column("id"), sa.column("name"))


@dataclasses.dataclass(frozen=True)
class Notice:
    system: str  # the subscription's name, or the API client's for a reader of the feed
    client: str  # the API client's name
    event_id: str
    status: str  # of the delivery: pending, delivered, failed; "feed" without a subscription
    delivered_at: dt.datetime | None
    acknowledged_at: dt.datetime | None

    def as_dict(self) -> dict[str, str | None]:
        def when(moment: dt.datetime | None) -> str | None:
            return moment.astimezone(dt.UTC).isoformat() if moment else None

        return {"system": self.system, "client": self.client, "event_id": self.event_id,
                "status": self.status, "delivered_at": when(self.delivered_at),
                "acknowledged_at": when(self.acknowledged_at)}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Notices:
    """What became of one customer's erasure event."""

    notices: list[Notice]
    settled: bool  # every subscription has looked at the event (none still to be told)

    @property
    def awaiting(self) -> bool:
        """Whether a system is still to be told, or has not acknowledged."""
        return not self.settled or any(
            n.acknowledged_at is None for n in self.notices if n.status != "feed"
        )


def erasure_notices(session: Session, customer_ids: Collection[str]) -> dict[str, Notices]:
    """Customer id -> the notices of its erasure (customers without an erasure event are
    absent), in three queries."""
    if not customer_ids:
        return {}
    events = list(
        session.execute(
            sa.select(Event.seq, Event.id, Event.customer_id, Event.type, Event.position).where(
                Event.customer_id.in_(sorted(customer_ids)), Event.type.in_(ERASURE_EVENTS)
            )
        )
    )
    if not events:
        return {}
    seqs = [e.seq for e in events]
    acked = sa.and_(
        Acknowledgement.event_seq == Delivery.event_seq,
        Acknowledgement.client_id == Subscription.client_id,
    )
    delivered = session.execute(
        sa.select(
            Delivery.event_seq,
            Delivery.status,
            Delivery.delivered_at,
            Subscription.name,
            _clients.c.name.label("client"),
            Acknowledgement.acknowledged_at,
        )
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(_clients, _clients.c.id == Subscription.client_id)
        .outerjoin(Acknowledgement, acked)
        .where(Delivery.event_seq.in_(seqs))
        .order_by(Subscription.name)
    ).all()
    told = (
        sa.select(Delivery.id)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(
            Delivery.event_seq == Acknowledgement.event_seq,
            Subscription.client_id == Acknowledgement.client_id,
        )
        .exists()
    )
    from_feed = session.execute(
        sa.select(
            Acknowledgement.event_seq,
            Acknowledgement.acknowledged_at,
            _clients.c.name.label("client"),
        )
        .join(_clients, _clients.c.id == Acknowledgement.client_id)
        .where(Acknowledgement.event_seq.in_(seqs), ~told)
        .order_by(_clients.c.name)
    ).all()
    lowest_mark = _lowest_mark(session, {e.type for e in events})
    found: dict[str, Notices] = {}
    for event in events:
        notices = [
            Notice(
                row.name, row.client, event.id, row.status, row.delivered_at, row.acknowledged_at
            )
            for row in delivered
            if row.event_seq == event.seq
        ] + [
            Notice(row.client, row.client, event.id, "feed", None, row.acknowledged_at)
            for row in from_feed
            if row.event_seq == event.seq
        ]
        settled = event.position is not None and lowest_mark.get(event.type, event.position) >= (
            event.position
        )
        found[cast(str, event.customer_id)] = Notices(notices, settled)
    return found


def _lowest_mark(session: Session, types: set[str]) -> dict[str, int]:
    """Event type -> how far the slowest active subscription taking it has looked."""
    marks: dict[str, int] = {}
    rows = session.execute(
        sa.select(Subscription.event_types, Subscription.fanned_out_to).where(
            Subscription.status == "active"
        )
    )
    for row in rows:
        for kind in set(row.event_types.split(",")) & types:
            marks[kind] = min(marks.get(kind, row.fanned_out_to), row.fanned_out_to)
    return marks


def awaiting_acknowledgement(customer_id: Any) -> sa.ColumnElement[bool]:
    """A condition over a customer id column: its erasure event is not yet numbered, or was
    meant for a system (delivered, still being tried, or failed) whose client has not
    acknowledged it."""
    unacknowledged = (
        sa.select(Delivery.id)
        .join(Event, Event.seq == Delivery.event_seq)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(
            Event.customer_id == customer_id,
            Event.type.in_(ERASURE_EVENTS),
            ~sa.select(Acknowledgement.event_seq)
            .where(
                Acknowledgement.event_seq == Event.seq,
                Acknowledgement.client_id == Subscription.client_id,
            )
            .exists(),
        )
        .exists()
    )
    unnumbered = (
        sa.select(Event.seq)
        .where(
            Event.customer_id == customer_id,
            Event.type.in_(ERASURE_EVENTS),
            Event.position.is_(None),
        )
        .exists()
    )
    return sa.or_(unnumbered, unacknowledged)
