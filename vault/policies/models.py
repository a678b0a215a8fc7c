"""The policy rules, in pycasbin's own table layout (``casbin_rule``: ptype, v0..v5) so that
``casbin_sqlalchemy_adapter`` loads them; Alembic owns the table.

``p`` rules: (role, object, purpose, action, effect, transform), where object is a field name,
``category:<name>`` or ``interactions:<kind>``, action is read, write or create, effect is
allow or deny, and transform is empty (plain) or a transform name.
``g`` rules: (role, parent role): the role inherits the parent's rules.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base

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
