"""Staff sessions, kept server-side. A log-in opens a session and hands back a random token
for the browser's signed session cookie; only the token's SHA-256 is stored. Every request
resumes the session from the database, so a log-out, an expiry or a disabled user ends it on
the next request in every worker, and a replayed cookie opens nothing. Functions here flush;
the caller's request or command commits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.auth.models import StaffSession, User
from vault.config import Settings

# The key of the session token in Flask's signed session cookie.
SESSION_TOKEN_KEY = "_vault_session"  # noqa: S105  (a key name, not a secret)
# A session's last use is recorded at most this often, so that reads do not all become
# writes; the idle timeout therefore counts from a time up to this much early.
LAST_SEEN_RESOLUTION = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class SessionPolicy:
    """How long a session lasts: ``max_age`` after the log-in at most, and no longer than
    ``idle`` after its last recorded use."""

    max_age: dt.timedelta = dt.timedelta(hours=12)
    idle: dt.timedelta = dt.timedelta(minutes=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            max_age=dt.timedelta(hours=settings.session_max_hours),
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
        )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user_id: str, *, now: dt.datetime) -> str:
    """Open a new session for ``user_id`` and return its token (256 random bits), for the
    cookie only: it is never stored. Every log-in gets a new one, so no token chosen before
    the log-in (a fixated cookie) ever becomes a session."""
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(id=_digest(token), user_id=user_id, created_at=now, last_seen_at=now))
    session.flush()
    return token


def _is_open(record: StaffSession, now: dt.datetime, policy: SessionPolicy) -> bool:
    # The same bounds as open_sessions_condition, in Python.
    return (
        record.ended_at is None
        and now - record.created_at < policy.max_age
        and now - record.last_seen_at <= policy.idle
    )


def open_sessions_condition(now: dt.datetime, policy: SessionPolicy) -> sa.ColumnElement[bool]:
    """The SQL condition of a session that is still open at ``now``."""
    return sa.and_(
        StaffSession.ended_at.is_(None),
        StaffSession.created_at > now - policy.max_age,
        StaffSession.last_seen_at >= now - policy.idle,
    )


def resume_session(
    session: Session,
    token: object,
    *,
    user_id: str,
    now: dt.datetime,
    policy: SessionPolicy,
) -> User | None:
    """The user of the open session whose token this is, or None: no token, an unknown,
    ended or expired session, one of another user than ``user_id`` (what the cookie names),
    or a disabled user. Records the session's use at most once a ``LAST_SEEN_RESOLUTION``
    (flushed)."""
    if not isinstance(token, str) or not token:
        return None
    # Found by the digest of a 256-bit token: timing can tell at most how much of a digest
    # matches a stored one, which does not help to find a token that has it.
    record = session.get(StaffSession, _digest(token))
    if record is None or record.user_id != user_id or not _is_open(record, now, policy):
        return None
    user = session.get(User, record.user_id)
    if user is None or not user.active:
        return None
    if now - record.last_seen_at >= LAST_SEEN_RESOLUTION:
        record.last_seen_at = now
        session.flush()
    return user


def end_session(session: Session, token: object, *, now: dt.datetime, reason: str) -> None:
    """End the session whose token this is (a log-out); nothing happens for a token that
    names no open session."""
    if not isinstance(token, str) or not token:
        return
    record = session.get(StaffSession, _digest(token))
    if record is not None and record.ended_at is None:
        record.ended_at, record.ended_reason = now, reason
        session.flush()


def end_user_sessions(session: Session, user_id: str, *, now: dt.datetime, reason: str) -> int:
    """End every session of a user that has not ended; returns how many were."""
    result = session.execute(
        sa.update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def open_session_counts(
    session: Session, user_ids: Iterable[str], *, now: dt.datetime, policy: SessionPolicy
) -> dict[str, int]:
    """How many open sessions each of these users has (absent: none)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(StaffSession.user_id, sa.func.count())
        .where(StaffSession.user_id.in_(wanted), open_sessions_condition(now, policy))
        .group_by(StaffSession.user_id)
    )
    return {user_id: int(count) for user_id, count in rows}
