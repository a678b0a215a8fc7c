"""Roles, staff users and API clients. Passwords are argon2id hashes; tokens are stored as a
SHA-256 of their secret part only."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, link_table, utcnow
from vault.policies.models import Purpose, Role

user_roles = link_table("user_roles", ("user_id", "users.id"), ("role_name", "roles.name"))
api_client_purposes = link_table(
    "api_client_purposes", ("client_id", "api_clients.id"), ("purpose_code", "purposes.code")
)


class User(Base):
    """A staff user who logs in to the admin UI."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    regions: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    """Comma-separated regions this principal may see; empty: every region."""

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")

    # flask-login's user protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.id


class ApiClient(Base):
    """A consumer system (CRM, marketing tool...) calling the API with a bearer token."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    role_name: Mapped[str] = mapped_column(sa.ForeignKey("roles.name", ondelete="RESTRICT"))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    regions: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    """Comma-separated regions this principal may see; empty: every region."""

    role: Mapped[Role] = relationship(lazy="joined")
    purpose_limit: Mapped[list[Purpose]] = relationship(
        secondary=api_client_purposes, lazy="selectin"
    )


SESSION_END_REASONS = ("logout", "user_disabled")


class StaffSession(Base):
    """A staff user's log-in to the admin UI, kept server-side. The browser's signed session
    cookie carries a random token; only its SHA-256 is stored here (the row's id), so the
    table opens no session and a session ended here stays ended whatever cookie is replayed.
    Idle and absolute expiry are derived from the times; ``ended_*`` records an end that
    was asked for."""

    __tablename__ = "staff_sessions"
    __table_args__ = (
        sa.CheckConstraint("ended_reason IN ('logout', 'user_disabled')", name="ended_reason"),
        sa.Index("ix_staff_sessions_user_id_ended_at", "user_id", "ended_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_reason: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
