"""Change stamps: each kind of governance data (catalogue, policies...) has a stamp that every
change replaces, in the change's own transaction; process-local caches compare it on use.

The stamp is random rather than incremented: a change that rolls back after a cache saw its
stamp must not let a later, different change reuse that stamp and look cached.
"""

from __future__ import annotations

import secrets
import weakref

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
_ALL_SQL: dict[str, str] = {}  # per dialect


def current_all(session: Session) -> dict[str, int]:
    """Every stamp, in one query. Every request reads them once, first of all: on the
    driver's own cursor (two plain columns need nothing of SQLAlchemy's execution), and on
    PostgreSQL in one round trip with the transaction's BEGIN (``vault.db_deferred``)."""
    connection = session.connection()
    dialect = connection.dialect
    sql = _ALL_SQL.get(dialect.name)
    if sql is None:
        sql = _ALL_SQL[dialect.name] = str(_ALL.compile(dialect=dialect))
    begin_with = getattr(connection.connection.dbapi_connection, "begin_with", None)
    rows = begin_with(sql) if begin_with is not None else None
    if rows is not None:
        return dict(rows)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return dict(cursor.fetchall())  # rows of (name, version)
    finally:
        cursor.close()


_DATABASES: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()


def database_of(session: Session) -> str:
    """The database a session works on, as the key of the caches kept under its stamps: its
    engine's URL, rendered once per engine (rendering it costs more than the cache lookup)."""
    engine = session.get_bind().engine
    name = _DATABASES.get(engine)
    if name is None:
        name = _DATABASES[engine] = str(engine.url)
    return name


def current(session: Session, name: str) -> int:
    """The stamp of ``name`` (0 when it never changed)."""
    return session.scalar(sa.select(ChangeCounter.version).where(ChangeCounter.name == name)) or 0
