"""Change stamps: each kind of governance data (catalogue, policies...) has a stamp that every
change replaces, in the change's own transaction; process-local caches compare it on use.

The stamp is random rather than incremented: a change that rolls back after a cache saw its
stamp must not let a later, different change reuse that stamp and look cached.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.policies.models import ChangeCounter


def bump(session: Session, name: str) -> int:
    """Mark ``name`` changed; returns the new stamp."""
    stamp = secrets.randbits(62) + 1
    updated = session.execute(
        sa.update(ChangeCounter).where(ChangeCounter.name == name).values(version=stamp)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.add(ChangeCounter(name=name, version=stamp))
        session.flush()
    return stamp


_ALL = sa.select(ChangeCounter.name, ChangeCounter.version)


def current_all(session: Session) -> dict[str, int]:
    """Every stamp, in one query (every request reads them once: a Core statement)."""
    rows = session.connection().execute(_ALL)
    return dict(rows.all())  # rows of (name, version)


def current(session: Session, name: str) -> int:
    """The stamp of ``name`` (0 when it never changed)."""
    return session.scalar(sa.select(ChangeCounter.version).where(ChangeCounter.name == name)) or 0
