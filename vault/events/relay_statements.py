"""The relay's statements over the deliveries (``vault.events.delivery``): which are due,
and how an attempt's outcome is written."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa

from vault.events.models import Delivery, Event, Subscription

_DELIVERIES = cast(sa.Table, Delivery.__table__)


def due_query() -> sa.Select[Any]:
    pending = (
        sa.select(
            Delivery.id,
            Delivery.subscription_id,
            Delivery.event_seq,
            Delivery.attempts,
            Delivery.created_at,
            Delivery.next_attempt_at,
            Delivery.position,
            sa.func.row_number()
            .over(
                partition_by=(Delivery.subscription_id, Delivery.customer_id),
                order_by=Delivery.position,
            )
            .label("turn"),
        )
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(Delivery.status == "pending", Subscription.status == "active")
        .subquery()
    )
    return (
        sa.select(
            pending.c.id.label("delivery_id"),
            pending.c.subscription_id,
            pending.c.attempts,
            pending.c.created_at.label("queued_at"),
            Event.seq,
            Event.id,
            Event.type,
            Event.occurred_at,
            Event.customer_id,
            Event.purpose,
            Event.fields,
            Event.data,
        )
        .join(Event, Event.seq == pending.c.event_seq)
        .where(pending.c.turn == 1, pending.c.next_attempt_at <= sa.bindparam("now"))
        .order_by(pending.c.position)
        .limit(sa.bindparam("limit"))
    )


DUE = due_query()
PENDING = sa.and_(_DELIVERIES.c.id == sa.bindparam("target"), _DELIVERIES.c.status == "pending")
RECORD_ATTEMPT = (
    sa.update(_DELIVERIES)
    .where(PENDING)
    .values(
        status=sa.bindparam("new_status"),
        attempts=sa.bindparam("new_attempts"),
        last_attempt_at=sa.bindparam("new_at"),
        last_status_code=sa.bindparam("new_code"),
        last_error=sa.bindparam("new_error"),
        next_attempt_at=sa.bindparam("new_next"),
        delivered_at=sa.bindparam("new_delivered_at"),
    )
)
RECORD_UNSENT = (
    sa.update(_DELIVERIES)
    .where(PENDING)
    .values(status="failed", last_error=sa.bindparam("new_last_error"))
)
