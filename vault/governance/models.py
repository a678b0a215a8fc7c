"""Governance tables that the rest of the vault refers to."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, utcnow

RETENTION_TRIGGERS = ("created", "last_activity", "consent_withdrawn", "relationship_ended")
RETENTION_ACTIONS = ("erase_field", "anonymise", "erase_customer")


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
        # Deleting consent events (erasure) checks this foreign key row by row.
        sa.Index("ix_consent_states_event_id", "event_id"),
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


class CategoryOwner(Base):
    """The data owner of a category: approves access requests to its fields."""

    __tablename__ = "category_owners"

    category: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


ACCESS_REQUEST_STATUSES = ("pending", "approved", "denied", "revoked")


class AccessRequest(Base):
    """A staff member's request for a scoped view: fields (categories expanded when asked), a
    purpose, listed customers or a region, a justification and a duration. Approved by the
    owner of every category it covers, it grants until ``expires_at`` or revocation."""

    __tablename__ = "access_requests"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'approved', 'denied', 'revoked')", name="status"),
        sa.CheckConstraint("duration_days BETWEEN 1 AND 90", name="duration"),
        sa.Index("ix_access_requests_requester_id_status", "requester_id", "status"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    requester_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(sa.ForeignKey("purposes.code", ondelete="RESTRICT"))
    fields: Mapped[str] = mapped_column(sa.Text)  # space-separated field names
    categories: Mapped[str] = mapped_column(sa.Text)  # space-separated categories covered
    customer_ids: Mapped[str] = mapped_column(sa.Text, default="")  # space-separated
    region: Mapped[str] = mapped_column(sa.String(16), default="")  # or every customer of it
    # Sealed (vault.crypto.notes): staff may write personal data here. The plaintext column
    # holds only rows written before notes were sealed, until `vault init` seals them.
    justification: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    justification_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    duration_days: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    approvals: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)  # category: owner
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str] = mapped_column(sa.String(40), default="")
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set by the worker once it has recorded the grant's expiry in the audit trail.
    expiry_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LegalHold(Base):
    """While a hold is active (not lifted), nothing of the customer may be erased, by
    retention or by request. The reasons are sealed (vault.crypto.notes) and go when the
    customer is erased; the plaintext columns hold only rows written before reasons were
    sealed, until `vault init` seals them."""

    __tablename__ = "legal_holds"
    __table_args__ = (sa.Index("ix_legal_holds_customer_id_lifted_at", "customer_id", "lifted_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(sa.ForeignKey("customers.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    reason_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    placed_by: Mapped[str] = mapped_column(sa.String(40))
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lift_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    lift_reason_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)


class RetentionRule(Base):
    """Erase a category's or a field's values (``erase_field``), or the whole customer
    (``anonymise``, ``erase_customer``), ``period_days`` after a trigger: the customer's
    creation, its last activity, its withdrawal of consent to ``purpose``, or the end of the
    relationship. Legal holds suspend every rule."""

    __tablename__ = "retention_rules"
    __table_args__ = (
        sa.CheckConstraint(
            "trigger IN ('created', 'last_activity', 'consent_withdrawn', 'relationship_ended')",
            name="trigger",
        ),
        sa.CheckConstraint(
            "action IN ('erase_field', 'anonymise', 'erase_customer')", name="action"
        ),
        sa.CheckConstraint("period_days BETWEEN 0 AND 36500", name="period_days"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    category: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    field: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    trigger: Mapped[str] = mapped_column(sa.String(32))
    purpose: Mapped[str | None] = mapped_column(
        sa.ForeignKey("purposes.code", ondelete="RESTRICT"), nullable=True
    )
    period_days: Mapped[int] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_by: Mapped[str] = mapped_column(sa.String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


PRIVACY_REQUEST_TYPES = ("export", "erasure", "withdraw_consent")
# What staff file for a customer who asked by phone or letter (a withdrawal they record as a
# consent event directly).
FILED_REQUEST_TYPES = ("export", "erasure")
PRIVACY_REQUEST_STATUSES = (
    "pending_verification", "verified", "processing", "completed", "rejected", "locked",
)  # fmt: skip
# How the request reached the vault: the portal, or staff filing it for the customer.
PRIVACY_CHANNELS = ("portal", "phone", "letter", "email", "in_person")
# How the requester's identity was checked: a one-time code mailed to the address on file
# (the portal), or what staff did before filing the request on the customer's behalf.
IDENTITY_CHECKS = ("email_code", "callback_to_number_on_file", "identity_document", "signed_letter")


class PrivacyRequest(Base):
    """A data-subject request (GDPR Art. 15 export, Art. 17 erasure). Portal requests wait for
    the one-time code mailed to the address; an address that matches no customer gets a
    request too (``customer_id`` NULL), which no code ever verifies. Due 30 days after it was
    received, extendable once with a reason (Art. 12(3)). Codes and download tokens are kept
    only as keyed hashes; no e-mail address is stored, only its keyed digest for rate limits."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        sa.CheckConstraint("type IN ('export', 'erasure', 'withdraw_consent')", name="type"),
        sa.CheckConstraint(
            "status IN ('pending_verification', 'verified', 'processing', 'completed',"
            " 'rejected', 'locked')",
            name="status",
        ),
        sa.CheckConstraint(
            "channel IN ('portal', 'phone', 'letter', 'email', 'in_person')", name="channel"
        ),
        sa.Index("ix_privacy_requests_address_digest_received_at", "address_digest", "received_at"),
        sa.Index("ix_privacy_requests_status_due_at", "status", "due_at"),
        sa.Index("ix_privacy_requests_customer_id", "customer_id"),
        sa.Index("ix_privacy_requests_download_digest", "download_digest", unique=True),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(16))
    # withdraw_consent: the purpose codes whose consent is withdrawn, space-separated
    purposes: Mapped[str] = mapped_column(sa.String(400), default="", server_default="")
    status: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str] = mapped_column(sa.String(32), default="")
    channel: Mapped[str] = mapped_column(sa.String(16))
    customer_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=True
    )
    address_digest: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), nullable=True)
    code_digest: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), nullable=True)
    code_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    identity_check: Mapped[str] = mapped_column(sa.String(32), default="")
    filed_by: Mapped[str] = mapped_column(sa.String(40), default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    extended_by: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    extended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    extension_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    download_digest: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), nullable=True)
    download_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    downloaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The deletion certificate (JSON, signed) of a completed erasure.
    certificate: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    overdue_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
