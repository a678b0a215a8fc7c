"""SQLAlchemy 2 engine and sessions: one transaction per request or command.

Services flush; the request (or the CLI command) commits once on success and rolls back on
any error, so an audit event and the change it records commit or fail together.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import (
    DeclarativeBase,
    QueryableAttribute,
    Session,
    SessionTransaction,
    sessionmaker,
)
from sqlalchemy.pool import StaticPool

from vault.config import Settings
from vault.contexts import context_globals, current_application
from vault.db_timeouts import PostgresTimeouts, bound_waits
from vault.logs import get_logger
from vault.private_files import create_private_file

_log = get_logger("vault.db")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite keeps no zone itself)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; use vault.db.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def link_table(name: str, *links: tuple[str, str]) -> sa.Table:
    """A many-to-many table: one column per ``(column, "table.column")`` it links, together
    its primary key; a row goes with either row it links (``ON DELETE CASCADE``)."""
    columns: list[sa.Column[Any]] = [
        sa.Column(column, sa.ForeignKey(target, ondelete="CASCADE"), primary_key=True)
        for column, target in links
    ]
    return sa.Table(name, Base.metadata, *columns)


def after_position(
    time: QueryableAttribute[dt.datetime], row_id: QueryableAttribute[str],
    when: dt.datetime, last_id: str,
) -> sa.ColumnElement[bool]:  # fmt: skip
    """The rows after (``when``, ``last_id``) in the order (time, id): where a list cursor's
    next page starts."""
    return sa.or_(time > when, sa.and_(time == when, row_id > last_id))


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_database_path(url: str) -> Path | None:
    """The database file an SQLite URL names; None for an in-memory database, a URI
    filename (``file:...``) or another engine."""
    parsed = sa.engine.make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database or ""
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def create_db_engine(
    url: str,
    *,
    busy_timeout_ms: int = 5000,
    echo: bool = False,
    read_only: bool = False,
    timeouts: PostgresTimeouts | None = None,
) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys, a busy timeout and real
    transactions (``BEGIN IMMEDIATE``, or a plain ``BEGIN`` for a ``read_only`` engine, whose
    readers never wait for a writer); PostgreSQL through psycopg 3, with ``timeouts``
    (default: connect timeout and keepalives only, no statement timeout). A new SQLite
    database file is created mode 0600 (its folder 0700) before SQLite opens it, so its
    ``-wal`` and ``-shm`` files, which SQLite gives the database's mode, are private too."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        if not url.startswith("postgresql"):
            return sa.create_engine(url, echo=echo, pool_pre_ping=True, hide_parameters=True)
        timeouts = timeouts or PostgresTimeouts()
        engine = sa.create_engine(url, echo=echo, hide_parameters=True, **timeouts.engine_args())
        bound_waits(engine, timeouts)
        return engine
    memory = url in ("sqlite://", "sqlite:///:memory:")
    database_file = sqlite_database_path(url)
    engine = sa.create_engine(
        url,
        echo=echo,
        hide_parameters=True,  # an error message must never quote a bound value
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "do_connect")
    def _before_connect(*_args: Any) -> None:
        # Before every connection, not only the first: a file deleted meanwhile is made
        # private again rather than recreated by SQLite with the umask's mode.
        if database_file is not None:
            create_private_file(database_file)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted content is overwritten, so an erased customer's blind indexes and
        # ciphertexts do not linger in free pages of the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Nearly every transaction writes (an audit event at least): take the write lock at
        # the start so that a read never has to be upgraded into a write and fail as busy.
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def purge_sqlite_wal(engine: Engine) -> bool:
    """After an erasure has committed, on SQLite: copy the WAL into the database and empty
    it, so that the erased rows' old page images do not linger in the ``-wal`` file (the
    database file itself is overwritten on delete: ``secure_delete``). Best effort: a
    reader still open elsewhere leaves the WAL for the next purge or checkpoint. Returns
    whether the WAL was emptied; a no-op (True) on other databases."""
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()  # autocommit: outside any transaction
    cursor = raw.cursor()
    (waits,) = cursor.execute("PRAGMA busy_timeout").fetchone()
    try:
        # Never wait: with another connection busy, the next purge or checkpoint does it.
        cursor.execute("PRAGMA busy_timeout=0")
        busy, _frames, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        cursor.execute(f"PRAGMA busy_timeout={int(waits)}")
        raw.close()
    return not busy


class Database:
    """The vault's SQLAlchemy binding for a Flask app (one engine per app)."""

    def init_app(self, app: Flask, settings: Settings) -> None:
        engine = create_db_engine(
            settings.database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            timeouts=PostgresTimeouts.from_settings(settings),
        )
        app.extensions["vault.db"] = _AppDatabase(engine, settings)
        app.after_request(_finish_request)
        app.teardown_appcontext(_close_session)

    @staticmethod
    def state(app: Flask | None = None) -> _AppDatabase:
        state: _AppDatabase = (app or current_application()).extensions["vault.db"]
        return state

    @property
    def engine(self) -> Engine:
        return self.state().engine

    @property
    def session(self) -> Session:
        """The session of the current request or command (created on first use)."""
        values = context_globals()
        session: Session | None = values.get("_vault_session")
        if session is None:
            state = self.state()
            session = state.sessionmaker()
            state.prepare(session)
            values._vault_session = session
        return session

    def after_commit(self, hook: Callable[[], None], session: Session | None = None) -> None:
        """Run ``hook`` once the current transaction of ``session`` (the request's or the
        command's by default) has committed; never if it rolls back. For what must follow the
        commit and cannot be undone: mail, the purge of an erasure's traces."""
        (session or self.session).info.setdefault(_AFTER_COMMIT, []).append(hook)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction for a CLI command or a job: commit on success, roll back on error."""
        session = self.session
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def bind_to_connection(self, app: Flask, connection: Connection) -> None:
        """Make every session of ``app`` join ``connection``'s transaction through savepoints
        (test isolation: the test rolls the outer transaction back)."""
        state = self.state(app)
        state.sessionmaker = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        state.bound = True

    def reading_session(self, app: Flask | None = None) -> Session:
        """A session of its own for a response that streams after the request's transaction
        has ended (an export): on SQLite its transaction is a plain reader that never holds
        the write lock, however slowly the client reads. The caller closes it."""
        state = self.state(app)
        session = state.reader()
        state.prepare(session)
        return session


class _AppDatabase:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)
        self.bound = False  # bound to one connection (tests): every session joins it
        self._readers: sessionmaker[Session] | None = None
        # What every new session of the app is given (the audit key, bound by create_app).
        self.session_setup: Callable[[Session], None] | None = None

    def prepare(self, session: Session) -> None:
        if self.session_setup is not None:
            self.session_setup(session)

    def dispose(self) -> None:
        """Close every pooled connection (the app's and its readers')."""
        self.engine.dispose()
        if self._readers is not None:
            bind = self._readers.kw["bind"]
            assert isinstance(bind, Engine)
            bind.dispose()

    def reader(self) -> Session:
        if self.bound:
            return self.sessionmaker()
        if self._readers is None:
            engine = create_db_engine(
                self.settings.database_url,
                busy_timeout_ms=self.settings.sqlite_busy_timeout_ms,
                read_only=True,
                timeouts=PostgresTimeouts.from_settings(self.settings).for_streaming(),
            )
            self._readers = sessionmaker(bind=engine, expire_on_commit=False)
        return self._readers()


_AFTER_COMMIT = "vault.after_commit"


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the work is not committed yet
        return
    for hook in session.info.pop(_AFTER_COMMIT, []):
        try:
            hook()
        except Exception as exc:  # the work is committed: a failing hook is told, not raised
            _log.error("db.after_commit_failed", hook=getattr(hook, "__name__", "hook"),
                       error=type(exc).__name__)  # fmt: skip


@event.listens_for(Session, "after_transaction_end")
def _forget_after_commit(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without a commit
        session.info.pop(_AFTER_COMMIT, None)


def at_request_end(write: Callable[[Session], None]) -> None:
    """Have ``write`` run in the request's last transaction whatever its outcome: before the
    commit of a successful request, or in a fresh transaction after the rollback of a failed
    one. What must outlive a rollback (the audit event of a refused attempt) is written so."""
    context_globals().setdefault("_vault_at_end", []).append(write)


def _finish_request(response: Response) -> Response:
    """Commit a successful request's work once; roll back an unsuccessful one."""
    values = context_globals()
    writes: list[Callable[[Session], None]] = values.pop("_vault_at_end", [])
    session: Session | None = values.get("_vault_session")
    if response.status_code >= 400:
        if session is not None:
            session.rollback()
        session = None
    if session is None and not writes:
        return response
    session = session or db.session
    try:
        for write in writes:
            write(session)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return response


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = context_globals().pop("_vault_session", None)
    if session is not None:
        session.close()


db = Database()


class utc_day(sa.sql.functions.GenericFunction[str]):
    """The UTC calendar day of a time column, as text ``YYYY-MM-DD`` on every engine (for
    counts per day: grouped in the database, not in Python)."""

    type = sa.String()
    inherit_cache = True


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"  # (stored as UTC text)


def last_days(now: dt.datetime, days: int) -> list[str]:
    """The ``days`` UTC days up to ``now``'s, oldest first, as ``utc_day`` writes them."""
    today = now.astimezone(dt.UTC).date()
    return [(today - dt.timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
