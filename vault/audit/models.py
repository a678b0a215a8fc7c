"""Audit tables. Events hold names and ids only: never a customer's value.

Writers only insert events (no shared row is updated per request, so concurrent requests
never queue behind one lock); the sealer later assigns unsealed events to a seal.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")
OUTCOMES = ("allowed", "denied", "error")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.CheckConstraint("outcome IN ('allowed', 'denied', 'error')", name="outcome"),
        sa.Index("ix_audit_events_seal_id_id", "seal_id", "id"),
        sa.Index("ix_audit_events_occurred_at", "occurred_at"),
        sa.Index("ix_audit_events_actor_id", "actor_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(64), default="")
    purpose: Mapped[str] = mapped_column(sa.String(64), default="")
    action: Mapped[str] = mapped_column(sa.String(64))
    customer_ids: Mapped[str] = mapped_column(sa.Text, default="")  # space-separated ids
    field_names: Mapped[str] = mapped_column(sa.Text, default="")  # space-separated names
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(64), default="")
    request_id: Mapped[str] = mapped_column(sa.String(128), default="")
    client_address: Mapped[str] = mapped_column(sa.String(64), default="")
    seal_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    # A nonce and an HMAC over it and the content, made when the event is written
    # (vault.audit.canonical); NULL only for events written before MACs existed.
    mac: Mapped[bytes | None] = mapped_column(sa.LargeBinary(48), nullable=True)


class AuditEventCustomer(Base):
    """Which customers an event concerns: "who accessed my data, for what, when"."""

    __tablename__ = "audit_event_customers"
    __table_args__ = (sa.Index("ix_audit_event_customers_customer_id", "customer_id", "event_id"),)

    event_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("audit_events.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)


class AuditSeal(Base):
    """A Merkle root over a batch of events, chained to the previous seal."""

    __tablename__ = "audit_seals"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    sealed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    event_count: Mapped[int] = mapped_column(sa.Integer)
    first_event_id: Mapped[int] = mapped_column(BigId)
    last_event_id: Mapped[int] = mapped_column(BigId)
    merkle_root: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    previous_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    seal_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    entries: Mapped[bytes] = mapped_column(sa.LargeBinary)  # (event id, leaf) pairs, 40 bytes each


class AuditHead(Base):
    """The newest seal and an HMAC over it: deleting the newest seals is detected. `vault
    init` writes the genesis head (seal 0), so a log without a head is never intact."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seal_id: Mapped[int] = mapped_column(sa.Integer)
    seal_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    mac: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
