"""How long the vault waits for PostgreSQL: connect, statement and idle-in-transaction
timeouts, TCP keepalives, the pool's wait and pre-ping, and a bound on every wait of the
client itself.

The server's ``statement_timeout`` ends a statement that runs too long, but a server that does
not run at all (frozen, its host paused, a network path that swallows packets while the kernel
still acknowledges them) never answers: nothing on the server side fires and TCP keepalives do
not either, because the peer's kernel acknowledges them. So the client bounds every wait for an
answer too (``BoundedConnection``): a little longer than the statement timeout for a statement,
the connect timeout for the pool's pre-ping. A wait that runs out closes the connection, which
SQLAlchemy then takes for a disconnection and discards.

The pool pings a connection before lending it only when it has lain idle for longer than
``PING_AFTER_IDLE_SECONDS``: a connection returned a moment ago by the previous request is
as alive as a ping would show, and pinging it would add a round trip to every request. A
ping that fails discards that connection and the pool tries another. A server restarted
while the pool is busy is met by a statement instead, whose failure discards the pool: that
request is answered 503 (database_unavailable) and the next ones connect again.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.abc import PQGen
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from vault.config import Settings
from vault.db_deferred import DeferredWrites

# How much longer than the server's statement timeout the client waits for an answer: the
# server's own cancellation (a 57014 error) normally arrives first.
CLIENT_GRACE_SECONDS = 0.5
# psycopg's own interval between checks for an interruption (Ctrl-C) while it waits.
_WAIT_INTERVAL = 0.1
# libpq's floor: a connect timeout under 2 seconds is taken as 2.
_MIN_CONNECT_SECONDS = 2
# A pooled connection idle for longer than this is pinged before it is lent.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "vault.idle_since"


@dataclasses.dataclass(frozen=True)
class PostgresTimeouts:
    """The timeouts of one engine. The defaults bound connections only (for commands such as
    migrations or ``vault audit verify``, whose statements may rightly run long); the app's
    engine takes every one from its settings (``from_settings``)."""

    connect_seconds: int = 5
    statement_ms: int = 0  # 0: no statement timeout
    idle_in_transaction_ms: int = 0  # 0: none
    keepalives: bool = True
    keepalives_idle_seconds: int = 30
    keepalives_interval_seconds: int = 10
    keepalives_count: int = 3
    pool_timeout_seconds: int = 5
    pool_pre_ping: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresTimeouts:
        return cls(
            connect_seconds=settings.database_connect_timeout_seconds,
            statement_ms=settings.database_statement_timeout_ms,
            idle_in_transaction_ms=settings.database_idle_in_transaction_timeout_ms,
            keepalives=settings.database_keepalives,
            keepalives_idle_seconds=settings.database_keepalives_idle_seconds,
            keepalives_interval_seconds=settings.database_keepalives_interval_seconds,
            keepalives_count=settings.database_keepalives_count,
            pool_timeout_seconds=settings.database_pool_timeout_seconds,
            pool_pre_ping=settings.database_pool_pre_ping,
        )

    def for_streaming(self) -> PostgresTimeouts:
        """The same without the idle-in-transaction timeout, for a session that waits on a
        slow client between its reads (an export being downloaded)."""
        return dataclasses.replace(self, idle_in_transaction_ms=0)

    @property
    def statement_wait_seconds(self) -> float | None:
        """How long the client waits for any one answer; None: as long as it takes."""
        if not self.statement_ms:
            return None
        return self.statement_ms / 1000 + CLIENT_GRACE_SECONDS

    @property
    def ping_wait_seconds(self) -> float | None:
        """How long the pool's pre-ping waits: a round trip, bounded like a connect."""
        if not self.connect_seconds:
            return None
        return float(max(self.connect_seconds, _MIN_CONNECT_SECONDS))

    def connect_args(self) -> dict[str, Any]:
        """The libpq parameters of each new connection."""
        args: dict[str, Any] = {}
        if self.connect_seconds:
            args["connect_timeout"] = self.connect_seconds
        if self.keepalives:
            args.update(
                keepalives=1,
                keepalives_idle=self.keepalives_idle_seconds,
                keepalives_interval=self.keepalives_interval_seconds,
                keepalives_count=self.keepalives_count,
            )
        options = []
        if self.statement_ms:
            options.append(f"-c statement_timeout={int(self.statement_ms)}")
        if self.idle_in_transaction_ms:
            options.append(
                f"-c idle_in_transaction_session_timeout={int(self.idle_in_transaction_ms)}"
            )
        if options:
            args["options"] = " ".join(options)
        return args

    def engine_args(self) -> dict[str, Any]:
        """The ``create_engine`` arguments these timeouts set."""
        return {
            "connect_args": self.connect_args(),
            "pool_timeout": self.pool_timeout_seconds,
            # pinged after idling only (bound_waits), not on every checkout
            "pool_pre_ping": False,
        }


class BoundedConnection(DeferredWrites):
    """A psycopg connection whose every wait for the server ends after ``wait_limit``
    seconds (None: no limit): the connection is then closed and the wait fails with
    ``psycopg.OperationalError``, as when the server hangs up. It can hold writes for the
    transaction's next round trip (``vault.db_deferred``)."""

    wait_limit: float | None = None

    def wait(
        self, gen: PQGen[Any], interval: float = _WAIT_INTERVAL, timeout: float | None = None
    ) -> Any:
        limit = self.wait_limit
        if limit is None or (timeout is not None and timeout <= limit):
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, limit)
        except pg_errors._WaitTimeout:  # the limit, not a timeout the caller asked for
            # Mid-statement the connection's state is unknown: it is closed, never reused.
            self.pgconn.finish()
            raise psycopg.OperationalError("the database did not answer in time") from None


def bound_waits(engine: Engine, timeouts: PostgresTimeouts) -> None:
    """Open ``engine``'s connections as ``BoundedConnection``: a statement waits at most
    ``statement_wait_seconds``; a pooled connection idle for longer than
    ``PING_AFTER_IDLE_SECONDS`` is pinged (when ``pool_pre_ping``), waiting at most
    ``ping_wait_seconds``, before it is lent."""
    statement, ping = timeouts.statement_wait_seconds, timeouts.ping_wait_seconds

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> BoundedConnection:
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.wait_limit = statement
        return connection

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if not isinstance(dbapi_connection, BoundedConnection) or not timeouts.pool_pre_ping:
            return
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        dbapi_connection.wait_limit = ping
        try:
            engine.dialect.do_ping(cast(Any, dbapi_connection))  # (psycopg's own, typed loosely)
        except psycopg.Error as exc:  # the pool discards it and tries another
            raise sa_exc.DisconnectionError("the pooled connection is gone") from exc
        finally:
            dbapi_connection.wait_limit = statement
