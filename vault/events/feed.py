"""The pull feed and acknowledgements: a client reads the events it may hear of, oldest first,
from a position on, and acknowledges those it acted on (an erasure: its copy is deleted)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.crypto.cursors import CursorSigner
from vault.errors import NotFound, ValidationFailed
from vault.events.audience import Audience
from vault.events.models import Acknowledgement, Event

LISTING = "events"


@dataclasses.dataclass(frozen=True)
class FeedPage:
    items: list[dict[str, Any]]
    position: int  # where the next page starts (after it): the last event looked at
    at: dt.datetime | None  # when that event occurred (for the cursor)
    has_more: bool


def feed_page(session: Session, audience: Audience, *, after: int, limit: int) -> FeedPage:
    """Up to ``limit`` events after position ``after`` that ``audience`` may hear of."""
    rows = list(
        session.execute(
            sa.select(Event)
            .where(Event.position > after, audience.condition())
            .order_by(Event.position)
            .limit(limit + 1)
        ).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [body for body in (audience.body(r) for r in rows) if body is not None]
    if not rows:
        return FeedPage([], after, None, False)
    last = rows[-1]
    assert last.position is not None
    return FeedPage(items, last.position, last.occurred_at, more)


def visible_event(session: Session, audience: Audience, event_id: str) -> Event:
    """The numbered event ``event_id`` if ``audience`` may hear of it; else ``NotFound``."""
    found = session.scalar(
        sa.select(Event).where(
            Event.id == event_id, Event.position.is_not(None), audience.condition()
        )
    )
    if found is None or audience.body(found) is None:
        raise NotFound("no such event")
    return found


def acknowledge(
    session: Session, audience: Audience, event_id: str, *, now: dt.datetime
) -> tuple[Event, dt.datetime, bool]:
    """Record that the client acted on the event; returns it, the time of the (first)
    acknowledgement and whether this call recorded it. Raises ``NotFound``."""
    found = visible_event(session, audience, event_id)
    earlier = session.get(Acknowledgement, (found.seq, audience.client_id))
    if earlier is not None:
        return found, earlier.acknowledged_at, False
    session.add(Acknowledgement(event_seq=found.seq, client_id=audience.client_id,
                                acknowledged_at=now))  # fmt: skip
    session.flush()
    return found, now, True


def acknowledgements(session: Session, event_seqs: list[int]) -> dict[int, dict[str, dt.datetime]]:
    """Event seq -> {client id: when it acknowledged}."""
    if not event_seqs:
        return {}
    found: dict[int, dict[str, dt.datetime]] = {}
    rows = session.execute(
        sa.select(Acknowledgement).where(Acknowledgement.event_seq.in_(event_seqs))
    ).scalars()
    for row in rows:
        found.setdefault(row.event_seq, {})[row.client_id] = row.acknowledged_at
    return found


Record = Callable[..., None]  # record(action, customer_ids=..., reason=...): the audit event


@dataclasses.dataclass
class EventFeed:
    """One client's feed: pages of what it may hear of, and its acknowledgements, each
    recorded as an audit event (the ids of the customers it learnt of)."""

    session: Session
    audience: Audience
    now: dt.datetime
    record: Record
    cursors: CursorSigner

    def page(self, *, after: str | None, limit: int) -> dict[str, Any]:
        """``{"items", "next_cursor", "has_more"}``: the events after the cursor ``after``
        (from the first without one). ``next_cursor`` is where to go on from, also when
        nothing was new: the feed is polled. Raises ``ValidationFailed`` for a cursor this
        vault did not give out."""
        position = 0
        if after:
            try:
                _at, text = self.cursors.decode(LISTING, after)
            except ValidationFailed:
                text = ""
            if not text.isdigit():
                raise ValidationFailed(errors={"after": ["is not a cursor of this feed"]})
            position = int(text)
        found = feed_page(self.session, self.audience, after=position, limit=limit)
        ids = sorted({i["customer_id"] for i in found.items if i["customer_id"]})
        self.record("event.list", customer_ids=ids)
        at = found.at or dt.datetime.fromtimestamp(0, dt.UTC)
        return {
            "items": found.items,
            "next_cursor": self.cursors.encode(LISTING, at, str(found.position)),
            "has_more": found.has_more,
        }

    def acknowledge(self, event_id: str) -> tuple[Event, dt.datetime]:
        event, when, recorded = acknowledge(self.session, self.audience, event_id, now=self.now)
        if recorded:
            self.record("event.ack", customer_ids=[event.customer_id] if event.customer_id else [],
                        reason=event.id)  # fmt: skip
        return event, when
