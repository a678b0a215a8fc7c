"""Event tables: the outbox of changes, who may hear of each event, subscriptions, deliveries
and acknowledgements. No column holds a personal value: events carry ids, field names, purpose
codes and the customer's region; a subscription's signing secret is sealed under a key
derived from the master key."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow

EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "consent.changed",
    "customer.anonymised",
    "customer.erased",
    "field.erased",
)
SUBSCRIPTION_STATUSES = ("active", "paused")
DELIVERY_STATUSES = ("pending", "delivered", "failed")

# SQLite makes only an INTEGER PRIMARY KEY an alias of its rowid (which counts by itself).
_SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Event(Base):
    """One change, written in the change's own transaction (the outbox). ``seq`` is the order
    of writing; ``position`` the order of commit, given by the relay (``vault.events.outbox``)
    once the event is committed, and what the feed and the deliveries follow: a transaction
    that commits late is numbered late, so a reader that went past a position misses
    nothing. ``region`` and the audience rows say who may hear of it."""

    __tablename__ = "events"
    __table_args__ = (
        sa.CheckConstraint(_in("type", EVENT_TYPES), name="type"),
        sa.Index("ix_events_position", "position", unique=True),
        sa.Index(
            "ix_events_unnumbered",
            "seq",
            sqlite_where=sa.text("position IS NULL"),
            postgresql_where=sa.text("position IS NULL"),
        ),
        sa.Index("ix_events_customer_id", "customer_id"),
        sa.Index("ix_events_occurred_at", "occurred_at"),
    )

    seq: Mapped[int] = mapped_column(_SEQUENCE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    customer_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    region: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    purpose: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    fields: Mapped[str] = mapped_column(sa.String(2000), default="")  # names, comma-separated
    data: Mapped[str] = mapped_column(sa.String(2000), default="{}")  # JSON, no values
    position: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    numbered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The purposes whose consent the customer had when the event was written (before the
    # change, or once it was made), as ",marketing,newsletter," (a comma at each end; "," for
    # none): a client that sees customers for such a purpose only with their consent may hear
    # of the event. Purposes that need no consent are not listed.
    audience: Mapped[str] = mapped_column(sa.String(1000), default=",", server_default=",")


class Subscription(Base):
    """A consumer system's webhook endpoint, bound to the API client whose role, purposes and
    regions bound what it may learn. ``fanned_out_to`` is the last event position considered
    for it."""

    __tablename__ = "subscriptions"
    __table_args__ = (sa.CheckConstraint(_in("status", SUBSCRIPTION_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("api_clients.id", ondelete="CASCADE"))
    event_types: Mapped[str] = mapped_column(sa.String(500))  # comma-separated
    secret_ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    fanned_out_to: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One event for one subscription: attempted until a 2xx, with backoff, and failed when
    the retry window has passed. ``customer_id`` and ``position`` keep deliveries in order
    per customer."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        sa.UniqueConstraint("subscription_id", "event_seq"),
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_deliveries_order", "subscription_id", "customer_id", "position"),
    )

    id: Mapped[int] = mapped_column(_SEQUENCE, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        sa.ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    event_seq: Mapped[int] = mapped_column(sa.ForeignKey("events.seq", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(sa.BigInteger)
    customer_id: Mapped[str] = mapped_column(sa.String(40), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(sa.String(64), default="")
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Acknowledgement(Base):
    """A client's word that it acted on an event (an erasure: it deleted its copy)."""

    __tablename__ = "event_acknowledgements"

    event_seq: Mapped[int] = mapped_column(
        sa.ForeignKey("events.seq", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("api_clients.id", ondelete="CASCADE"), primary_key=True
    )
    acknowledged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
