"""The policies' vocabulary, on the lower floor that every other package may use: purposes,
roles (with the purposes their members may state), the change stamps of governance data, and
the policy rules, in pycasbin's own table layout (``casbin_rule``: ptype, v0..v5) so that
``sqlalchemy_adapter`` loads them; Alembic owns the table.

``p`` rules: (role, object, purpose, action, effect, transform), where object is a field name,
``category:<name>`` or ``interactions:<kind>``, action is read, write or create, effect is
allow or deny, and transform is empty (plain) or a transform name.
``g`` rules: (role, parent role): the role inherits the parent's rules.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, link_table, utcnow

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


role_purposes = link_table(
    "role_purposes", ("role_name", "roles.name"), ("purpose_code", "purposes.code")
)


class Role(Base):
    """A role; ``role_purposes`` lists the purposes its members may state."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    builtin: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    purposes: Mapped[list[Purpose]] = relationship(secondary=role_purposes, lazy="selectin")


class ChangeCounter(Base):
    """A stamp per kind of governance data (catalogue, policies...). Every change replaces it
    in the same transaction, so each worker process knows when its caches are stale."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)


MAX_RULE_ID = 2**31 - 1  # the largest id the INTEGER column holds (PostgreSQL's, 32 bits)


class PolicyRule(Base):
    __tablename__ = "casbin_rule"
    __table_args__ = (sa.Index("ix_casbin_rule_ptype_v0", "ptype", "v0"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    ptype: Mapped[str] = mapped_column(sa.String(8))
    v0: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    v1: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    v2: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    v3: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    v4: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    v5: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)

    def __str__(self) -> str:
        values = [v for v in (self.v0, self.v1, self.v2, self.v3, self.v4, self.v5) if v]
        return ", ".join([self.ptype, *values])
