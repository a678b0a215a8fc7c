"""Readiness: does the database answer, within a deadline of its own?

A frozen database never answers and never refuses; the probe therefore runs in a thread of its
own and the caller waits for it no longer than the deadline. One probe runs at a time per
process: callers that arrive while it runs wait for the same one, so an orchestrator polling
a frozen database does not pile up threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session


class ReadinessTimeout(TimeoutError):
    """The database did not answer the readiness probe within its deadline."""


class _Probe:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class ReadinessCheck:
    """``check()`` asks the database for ``SELECT 1`` through a session of ``open_session``
    (closed afterwards) and waits at most ``timeout_seconds`` for it; on PostgreSQL the
    statement is bounded by the same timeout on the server too."""

    def __init__(self, open_session: Callable[[], Session], timeout_seconds: float) -> None:
        self.open_session = open_session
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._running: _Probe | None = None

    def check(self) -> BaseException | None:
        """None when the database answered in time; else what went wrong (a
        ``ReadinessTimeout`` when it did not answer). Never raises."""
        with self._lock:
            probe = self._running
            if probe is None or probe.done.is_set():
                probe = self._running = _Probe()
                threading.Thread(
                    target=self._run, args=(probe,), name="vault-readiness", daemon=True
                ).start()
        if not probe.done.wait(self.timeout_seconds):
            return ReadinessTimeout()
        return probe.error

    def _run(self, probe: _Probe) -> None:
        try:
            session = self.open_session()
            try:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(
                        sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                        {"ms": str(int(self.timeout_seconds * 1000))},
                    )
                session.execute(sa.text("SELECT 1"))
                session.rollback()
            finally:
                session.close()
        except Exception as exc:
            probe.error = exc
        finally:
            probe.done.set()
