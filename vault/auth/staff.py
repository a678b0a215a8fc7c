"""Staff users as admins manage them: the directory with each user's open sessions, new
users, and disabling (every session ends at once) and enabling. Each change records its
audit event in the caller's transaction; functions here flush, the caller commits."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.auth.bound import BoundService
from vault.auth.models import User
from vault.auth.principal import Principal
from vault.auth.service import create_user, find_user_by_email
from vault.auth.sessions import SessionPolicy, end_user_sessions, open_session_counts
from vault.errors import Conflict, or_not_found
from vault.policies.models import Role


@dataclasses.dataclass(frozen=True)
class StaffMember:
    """A user as the directory shows it."""

    user: User
    open_sessions: int


def list_staff(
    session: Session,
    *,
    now: dt.datetime,
    policy: SessionPolicy,
    after: str | None = None,
    limit: int | None = None,
) -> list[StaffMember]:
    """Users in id order (those after the id ``after``; at most ``limit``), each with how
    many open sessions it has."""
    query = sa.select(User).order_by(User.id)
    if after:
        query = query.where(User.id > after)
    if limit is not None:
        query = query.limit(limit)
    users = list(session.scalars(query))
    counts = open_session_counts(session, [u.id for u in users], now=now, policy=policy)
    return [StaffMember(u, counts.get(u.id, 0)) for u in users]


def staff_member(
    session: Session, user_id: str, *, now: dt.datetime, policy: SessionPolicy
) -> StaffMember:
    """One user of the directory; raises ``NotFound``."""
    user = _user(session, user_id)
    counts = open_session_counts(session, [user.id], now=now, policy=policy)
    return StaffMember(user, counts.get(user.id, 0))


def user_id_for_email(session: Session, email: str) -> str:
    """The id of the user with this email; raises ``NotFound``."""
    return or_not_found(find_user_by_email(session, email), "no user has this email address").id


def _user(session: Session, user_id: str) -> User:
    return or_not_found(session.get(User, user_id), "no such user")


def register_user(
    session: Session,
    context: AuditContext,
    *,
    email: str,
    password: str,
    roles: Sequence[str],
    min_password_length: int,
    now: dt.datetime,
) -> User:
    """Create a staff user (``create_user``) and record ``user.create``. Raises what
    ``create_user`` raises."""
    user = create_user(session, email=email, password=password, roles=roles,
                       min_password_length=min_password_length)  # fmt: skip
    record_event(session, context, action="user.create", outcome="allowed", now=now,
                 reason=user.id)  # fmt: skip
    return user


def _other_active_admins(session: Session, user_id: str) -> int:
    query = (
        sa.select(sa.func.count(sa.distinct(User.id)))
        .join(User.roles)
        .where(Role.name == "admin", User.active.is_(True), User.id != user_id)
    )
    return int(session.scalar(query) or 0)


def disable_user(
    session: Session, user_id: str, context: AuditContext, *, now: dt.datetime
) -> tuple[User, int]:
    """Disable a user: it can no longer log in, and every session of theirs ends now (the next
    request is refused in every worker, which reads the user and the session each time).
    Returns the user and how many sessions ended. Raises ``NotFound`` and ``Conflict``
    (``last_admin``: nobody would be left to manage the vault)."""
    user = _user(session, user_id)
    is_admin = any(r.name == "admin" for r in user.roles)
    if user.active and is_admin and not _other_active_admins(session, user.id):
        raise Conflict("the last active admin cannot be disabled", code="last_admin")
    user.active = False
    session.flush()
    # Ended rather than merely refused while the user is disabled, so that enabling the user
    # again does not bring an old session back.
    ended = end_user_sessions(session, user.id, now=now, reason="user_disabled")
    record_event(session, context, action="user.disable", outcome="allowed", now=now,
                 reason=user.id)  # fmt: skip
    return user, ended


def enable_user(session: Session, user_id: str, context: AuditContext, *, now: dt.datetime) -> User:
    """Let a disabled user log in again (no old session comes back). Raises ``NotFound``."""
    user = _user(session, user_id)
    user.active = True
    session.flush()
    record_event(session, context, action="user.enable", outcome="allowed", now=now,
                 reason=user.id)  # fmt: skip
    return user


class StaffDirectory(BoundService):
    """The staff directory as admins use it from the API or the admin UI: every call checks
    that ``principal`` is an admin (``Forbidden`` otherwise) and records its audit event in
    ``session``'s transaction under ``context``."""

    ADMINS_ONLY = "staff users are managed by admins"

    def __init__(
        self,
        session: Session,
        context: AuditContext,
        principal: Principal,
        *,
        now: dt.datetime,
        policy: SessionPolicy,
        min_password_length: int,
    ) -> None:
        super().__init__(session, context, principal, now=now)
        self.policy, self.min_password_length = policy, min_password_length

    def _admin(self) -> None:
        self.principal.require_role("admin", because=self.ADMINS_ONLY)

    def page(self, *, after: str | None, limit: int) -> list[StaffMember]:
        """Users in id order after ``after``, at most ``limit`` (``user.read``)."""
        self._admin()
        members = list_staff(self.session, now=self.now, policy=self.policy, after=after,
                             limit=limit)  # fmt: skip
        record_event(self.session, self.context, action="user.read", outcome="allowed",
                     now=self.now)  # fmt: skip
        return members

    def get(self, user_id: str) -> StaffMember:
        """One user of the directory (``staff_member``); raises ``NotFound``."""
        self._admin()
        return staff_member(self.session, user_id, now=self.now, policy=self.policy)

    def register(self, *, email: str, password: str, roles: Sequence[str]) -> StaffMember:
        """A new user (``register_user``), with no session yet."""
        self._admin()
        user = register_user(self.session, self.context, email=email, password=password,
                             roles=roles, min_password_length=self.min_password_length,
                             now=self.now)  # fmt: skip
        return StaffMember(user, 0)

    def disable(self, user_id: str) -> StaffMember:
        """Disable the user (``disable_user``): its sessions end now."""
        self._admin()
        disable_user(self.session, user_id, self.context, now=self.now)
        return staff_member(self.session, user_id, now=self.now, policy=self.policy)

    def enable(self, user_id: str) -> StaffMember:
        """Let the user log in again (``enable_user``)."""
        self._admin()
        enable_user(self.session, user_id, self.context, now=self.now)
        return staff_member(self.session, user_id, now=self.now, policy=self.policy)
