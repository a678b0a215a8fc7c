"""Customer tables. No column holds a personal value in clear: values, interaction texts and
consent evidence are AES-256-GCM ciphertexts; searchable fields have HMAC blind indexes."""

from __future__ import annotations

import datetime as dt
import decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow

FIELD_TYPES = ("string", "text", "email", "phone", "date", "string_list")
SENSITIVITIES = ("low", "medium", "high", "special")
CUSTOMER_STATUSES = ("active", "erased")
ERASURES = ("erased", "anonymised")  # how an erased customer went: see vault.governance.erasure
INTERACTION_KINDS = ("purchase", "support_ticket", "email", "call", "survey")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class FieldDefinition(Base):
    """One entry of the field catalogue; admins add more at run time."""

    __tablename__ = "fields"
    __table_args__ = (
        sa.CheckConstraint(_in("type", FIELD_TYPES), name="type"),
        sa.CheckConstraint(_in("sensitivity", SENSITIVITIES), name="sensitivity"),
        sa.CheckConstraint("max_length > 0", name="max_length_positive"),
    )

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(16))
    category: Mapped[str] = mapped_column(sa.String(32), index=True)
    sensitivity: Mapped[str] = mapped_column(sa.String(16))
    searchable: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    unique: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    required: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    max_length: Mapped[int] = mapped_column(sa.Integer)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    builtin: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Customer(Base):
    """A customer: opaque id, region, status, its data key wrapped under a master key, and
    its encrypted values. Erasure sets ``wrapped_key`` to NULL (crypto-shredding) and deletes
    the values."""

    __tablename__ = "customers"
    __table_args__ = (
        sa.CheckConstraint(_in("status", CUSTOMER_STATUSES), name="status"),
        sa.Index("ix_customers_created_at_id", "created_at", "id"),
        # retention triggers: the sweep finds due customers without scanning the table
        sa.Index("ix_customers_last_activity_at", "last_activity_at"),
        sa.Index("ix_customers_relationship_ended_at", "relationship_ended_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    region: Mapped[str] = mapped_column(sa.String(16), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    erasure: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    # When the customer relationship (contract) ended; a retention trigger.
    relationship_ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    kek_version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True, index=True)
    dek_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    # Every field value, each its own AES-GCM ciphertext, packed (vault.customers.packing).
    sealed_values: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)


class BlindIndexEntry(Base):
    """The HMAC of a searchable field's normalised value. ``unique_digest`` repeats the digest
    for fields that must be unique (NULL otherwise), so the database enforces uniqueness."""

    __tablename__ = "blind_indexes"
    __table_args__ = (
        sa.Index("ix_blind_indexes_field_name_digest", "field_name", "digest"),
        sa.UniqueConstraint("field_name", "unique_digest"),
    )

    customer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    field_name: Mapped[str] = mapped_column(
        sa.ForeignKey("fields.name", ondelete="RESTRICT"), primary_key=True
    )
    digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    unique_digest: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), nullable=True)


class Interaction(Base):
    """A purchase, support ticket, email, call or survey; its free text is encrypted."""

    __tablename__ = "interactions"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", INTERACTION_KINDS), name="kind"),
        sa.Index("ix_interactions_customer_id_occurred_at", "customer_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(32), default="")
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    amount: Mapped[decimal.Decimal | None] = mapped_column(sa.Numeric(14, 2), nullable=True)
    currency: Mapped[str | None] = mapped_column(sa.String(3), nullable=True)
    text_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
