"""The scheduled jobs of ``vault worker``: each job runs every so many seconds, in its own
transaction; one failing run is logged and the others go on.

Several workers may run against one database: a job runs only while its worker holds the job's
lock (``job_lock``), so each job runs in one worker at a time and scaling out needs nothing
else. On PostgreSQL the lock is a session-level advisory lock on a connection of its own (the
server releases it if the worker dies); on SQLite, whose workers share a host, it is an
``flock`` on a file next to the database (the kernel releases it likewise).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vault.logs import get_logger

log = get_logger("vault.worker")


@dataclasses.dataclass
class Job:
    name: str
    every: float  # seconds between runs
    run: Callable[[], str]  # does the work, returns a one-line summary
    next_at: float = 0.0
    # A job that goes on by itself until told to stop (the event relay): ``run_until`` runs
    # it on a thread of its own, so that neither it nor the others wait for each other.
    # ``run`` is still what one pass (``run_due``, ``vault worker --once``) does.
    loop: Callable[[threading.Event], str] | None = None


class Worker:
    def __init__(self, jobs: list[Job], *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.jobs = jobs
        self.monotonic = monotonic

    def run_due(self, *, looping: bool = True) -> list[tuple[str, str]]:
        """Run every job that is due (with ``looping`` false, not those that run on a thread
        of their own); returns (job, summary or error) for each run."""
        now = self.monotonic()
        done = []
        for job in self.jobs:
            if job.next_at > now or (job.loop is not None and not looping):
                continue
            done.append((job.name, _run(job.name, job.run)))
            job.next_at = now + job.every
        return done

    def run_until(self, stop: threading.Event) -> None:
        """Run the jobs on their schedule until ``stop`` is set; each looping job on a thread
        of its own (``_keep_running``)."""
        threads = [
            threading.Thread(
                target=_keep_running, args=(job, stop), name=f"vault-{job.name}", daemon=True
            )
            for job in self.jobs
            if job.loop is not None
        ]
        for thread in threads:
            thread.start()
        scheduled = [job for job in self.jobs if job.loop is None]
        while not stop.is_set():
            self.run_due(looping=False)
            wait = min((job.next_at for job in scheduled), default=60.0) - self.monotonic()
            stop.wait(max(wait, 0.05))
        for thread in threads:
            thread.join()


def _run(name: str, run: Callable[[], str]) -> str:
    try:
        summary = run()
        log.info("job.done", job=name, summary=summary)
    except Exception as exc:  # a job's failure must not stop the others
        summary = f"failed: {type(exc).__name__}"
        log.error("job.failed", job=name, error_type=type(exc).__name__)
    return summary


def _keep_running(job: Job, stop: threading.Event) -> None:
    """Run a looping job again at once when it ends its turn, or ``every`` seconds after it
    was skipped (another worker has it) or failed."""
    loop = job.loop
    assert loop is not None
    while not stop.is_set():
        summary = _run(job.name, lambda: loop(stop))
        if summary.startswith(("skipped", "failed")):
            stop.wait(job.every)


_LOCAL_LOCKS: dict[str, threading.Lock] = {}


def _advisory_key(name: str) -> int:
    digest = hashlib.sha256(b"vault-job:" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Try to take the lock of job ``name`` without waiting; yields whether it was taken. The
    caller does the job only when it was."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        key = _advisory_key(name)
        with engine.connect() as connection:
            taken = bool(connection.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            connection.commit()
            try:
                yield taken
            finally:
                if taken:
                    connection.scalar(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    connection.commit()
        return
    database = url.database or ""
    if not database or database == ":memory:":  # one process only: a lock in memory will do
        lock = _LOCAL_LOCKS.setdefault(name, threading.Lock())
        taken = lock.acquire(blocking=False)
        try:
            yield taken
        finally:
            if taken:
                lock.release()
        return
    fd = os.open(f"{database}.{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            taken = True
        except BlockingIOError:
            taken = False
        try:
            yield taken
        finally:
            if taken:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def exclusive(engine: Engine, name: str, run: Callable[[], str]) -> Callable[[], str]:
    """``run`` as a job that does nothing while another worker runs it."""

    def locked() -> str:
        with job_lock(engine, name) as taken:
            if not taken:
                return "skipped: another worker is running this job"
            return run()

    return locked
