"""The scheduled jobs of ``vault worker``: each job runs every so many seconds, in its own
transaction; one failing run is logged and the others go on. Several workers may run against
one PostgreSQL: sealing serialises on the audit head, so two sealers never seal the same
events."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from vault.logs import get_logger

log = get_logger("vault.worker")


@dataclasses.dataclass
class Job:
    name: str
    every: float  # seconds between runs
    run: Callable[[], str]  # does the work, returns a one-line summary
    next_at: float = 0.0


class Worker:
    def __init__(self, jobs: list[Job], *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.jobs = jobs
        self.monotonic = monotonic

    def run_due(self) -> list[tuple[str, str]]:
        """Run every job that is due; returns (job, summary or error) for each run."""
        now = self.monotonic()
        done = []
        for job in self.jobs:
            if job.next_at > now:
                continue
            try:
                summary = job.run()
                log.info("job.done", job=job.name, summary=summary)
            except Exception as exc:  # a job's failure must not stop the others
                summary = f"failed: {type(exc).__name__}"
                log.error("job.failed", job=job.name, error_type=type(exc).__name__)
            job.next_at = now + job.every
            done.append((job.name, summary))
        return done

    def run_until(self, stop: threading.Event) -> None:
        """Run the jobs on their schedule until ``stop`` is set."""
        while not stop.is_set():
            self.run_due()
            wait = min(job.next_at for job in self.jobs) - self.monotonic()
            stop.wait(max(wait, 0.05))
