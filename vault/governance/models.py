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
