"""Governance tables that the rest of the vault refers to."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow

LEGAL_BASES = ("consent", "contract", "legitimate_interest", "legal_obligation")


class Purpose(Base):
    """A purpose of use that every customer-data request states (``X-Purpose``)."""

    __tablename__ = "purposes"
    __table_args__ = (
        sa.CheckConstraint(
            "legal_basis IN ('consent', 'contract', 'legitimate_interest', 'legal_obligation')",
            name="legal_basis",
        ),
    )

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    legal_basis: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentEvent(Base):
    """Append-only: a customer granted or withdrew consent to a purpose. ``evidence`` (what
    the customer saw or clicked, an address...) is encrypted under the customer's key."""

    __tablename__ = "consent_events"
    __table_args__ = (
        sa.Index("ix_consent_events_customer_id_purpose_code", "customer_id", "purpose_code"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    customer_id: Mapped[str] = mapped_column(sa.ForeignKey("customers.id", ondelete="CASCADE"))
    purpose_code: Mapped[str] = mapped_column(sa.ForeignKey("purposes.code", ondelete="RESTRICT"))
    granted: Mapped[bool] = mapped_column(sa.Boolean)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(sa.String(64))
    notice_version: Mapped[str] = mapped_column(sa.String(32), default="")
    evidence_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    recorded_by: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentState(Base):
    """The current consent per (customer, purpose), derived from the newest event and kept
    in the same transaction; row filters read it."""

    __tablename__ = "consent_states"
    __table_args__ = (
        sa.Index(
            "ix_consent_states_purpose_code_granted", "purpose_code", "granted", "customer_id"
        ),
    )

    customer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    purpose_code: Mapped[str] = mapped_column(
        sa.ForeignKey("purposes.code", ondelete="RESTRICT"), primary_key=True
    )
    granted: Mapped[bool] = mapped_column(sa.Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("consent_events.id", ondelete="CASCADE"),
    )


class ChangeCounter(Base):
    """A stamp per kind of governance data (catalogue, policies...). Every change replaces it
    in the same transaction, so each worker process knows when its caches are stale."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
