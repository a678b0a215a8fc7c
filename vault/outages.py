"""Database outages: which errors mean the database cannot be reached (or does not answer in
time), and the log of an outage, one line when it starts and one when it ends, instead of a
stack trace for every request it refuses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from vault.logs import get_logger

log = get_logger("vault.database")

# Connection failures, timeouts (a statement the server cancelled, a connect or a wait of the
# client that ran out) and a pool with no free connection: the request may succeed later.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
)
_CHAIN_LIMIT = 8


def database_outage(error: BaseException) -> BaseException | None:
    """The outage error that ``error`` is, or that caused it (through ``raise ... from`` or
    while it was being handled); None when it is no outage."""
    current: BaseException | None = error
    for _ in range(_CHAIN_LIMIT):
        if current is None:
            return None
        if isinstance(current, OUTAGE_ERRORS):
            return current
        current = current.__cause__ or current.__context__
    return None


def error_class(error: BaseException) -> str:
    """The class of ``error`` and of the driver's error it wraps (``OperationalError/
    ConnectionTimeout``): never its message, which may quote SQL or a connection string."""
    name = type(error).__name__
    driver = getattr(error, "orig", None)
    return f"{name}/{type(driver).__name__}" if driver is not None else name


class OutageLog:
    """Counts the requests refused while the database is unavailable, per process and
    thread-safe. The first refusal of a burst logs ``database.unavailable`` with the error's
    class; while it lasts, ``database.still_unavailable`` every ``report_seconds`` with the
    count so far; the first answer of the database after it, ``database.available`` with the
    count of the whole burst."""

    def __init__(
        self, *, report_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.report_seconds = report_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._reported = 0.0
        self._refused = 0

    @property
    def in_outage(self) -> bool:
        return self._started is not None

    def refused(self, error: BaseException) -> None:
        """A request was refused because of ``error``."""
        with self._lock:
            now = self._clock()
            self._refused += 1
            if self._started is None:
                self._started = self._reported = now
                log.error("database.unavailable", error_class=error_class(error))
            elif now - self._reported >= self.report_seconds:
                self._reported = now
                log.warning(
                    "database.still_unavailable",
                    refused=self._refused,
                    seconds=round(now - self._started, 1),
                    error_class=error_class(error),
                )

    def answered(self) -> None:
        """The database answered: an outage in progress has ended."""
        if not self.in_outage:  # the usual case, without taking the lock
            return
        with self._lock:
            if self._started is None:
                return
            log.warning(
                "database.available",
                refused=self._refused,
                seconds=round(self._clock() - self._started, 1),
            )
            self._started, self._refused = None, 0


def watch_answers(engine: Engine, outages: OutageLog) -> None:
    """Tell ``outages`` whenever ``engine`` has run a statement, so that an outage's end is
    logged as soon as the database answers again."""

    @event.listens_for(engine, "after_cursor_execute")
    def _answered(*_args: object) -> None:
        outages.answered()
