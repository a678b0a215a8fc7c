"""The scheduled jobs: their schedule, a failing job not stopping the others, the `vault
worker` command running them, and the job locks that let several workers share a database."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from flask import Flask

from tests.helpers import commit_events, sealed_within, write_events
from tests.support.served import served_vault
from vault import runtime
from vault.bootstrap import prepare_database
from vault.cli import main
from vault.db import create_db_engine, db
from vault.worker import Job, Worker, exclusive, job_lock


def test_jobs_run_on_their_schedule_and_failures_are_contained() -> None:
    clock = [0.0]
    runs: list[str] = []

    def broken() -> str:
        runs.append("broken")
        raise RuntimeError("boom")

    def fast() -> str:
        runs.append("fast")
        return "ok"

    worker = Worker(
        [Job("fast", 1, fast), Job("slow", 10, broken)],
        monotonic=lambda: clock[0],
    )
    assert worker.run_due() == [("fast", "ok"), ("slow", "failed: RuntimeError")]
    clock[0] = 1.0
    assert [name for name, _ in worker.run_due()] == ["fast"]
    clock[0] = 10.0
    assert [name for name, _ in worker.run_due()] == ["fast", "slow"]
    assert runs == ["fast", "broken", "fast", "fast", "broken"]


def test_run_until_stops_when_asked() -> None:
    stop = threading.Event()
    count = [0]

    def tick() -> str:
        count[0] += 1
        if count[0] == 3:
            stop.set()
        return "tick"

    thread = threading.Thread(target=Worker([Job("tick", 0.01, tick)]).run_until, args=(stop,))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert count[0] == 3


def test_vault_worker_once_seals_the_audit_log(
    fresh_database_url: str, make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    prepare_database(fresh_database_url)
    app = make_app(fresh_database_url)
    with app.app_context(), db.transaction() as session:
        write_events(session, 9, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    env = {
        "VAULT_DATABASE_URL": fresh_database_url,
        "VAULT_INSTANCE_PATH": str(app.config["VAULT_SETTINGS"].instance_path),
        "VAULT_AUDIT_ANCHOR": app.config["VAULT_SETTINGS"].audit_anchor,
    }
    result = CliRunner(env=env).invoke(main, ["worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 0
    assert (
        "retention.sweep: fields erased for 0 customers, 0 anonymised, 0 erased; 0 held back"
    ) in result.stdout
    assert "grants.expire: 0 grants expired" in result.stdout
    # the 9 events and the sweep's own, written earlier in the same pass
    assert "audit.seal: sealed 10 events in 1 seals" in result.stdout
    with app.app_context():
        report = runtime.audit_log().verify(db.session, now=runtime.now())
    assert report.ok
    assert (report.events, report.unsealed) == (10, 0)


def test_a_job_lock_is_held_by_one_worker_at_a_time(fresh_database_url: str) -> None:
    first, second = create_db_engine(fresh_database_url), create_db_engine(fresh_database_url)
    try:
        with job_lock(first, "retention.sweep") as taken:
            assert taken
            with job_lock(second, "retention.sweep") as also:
                assert not also
            with job_lock(second, "audit.seal") as other_job:
                assert other_job  # each job has its own lock
        with job_lock(second, "retention.sweep") as taken_later:
            assert taken_later  # released when the first worker finished
    finally:
        first.dispose()
        second.dispose()


def test_two_workers_never_run_the_same_job_at_once(fresh_database_url: str) -> None:
    """Two workers (their own engines, as two processes would have) run the same job in a
    tight loop; at no moment do both run it."""
    engines = [create_db_engine(fresh_database_url) for _ in range(2)]
    guard = threading.Lock()
    running: list[int] = []
    overlaps: list[list[int]] = []
    ran = [0, 0]

    def job(worker: int) -> Callable[[], str]:
        def run() -> str:
            with guard:
                running.append(worker)
                if len(running) > 1:
                    overlaps.append(list(running))
            time.sleep(0.005)
            with guard:
                running.remove(worker)
                ran[worker] += 1
            return "ran"

        return run

    workers = [
        Worker([Job("retention.sweep", 0, exclusive(engine, "retention.sweep", job(i)))])
        for i, engine in enumerate(engines)
    ]
    summaries: list[str] = []
    start = threading.Barrier(2)

    def loop(worker: Worker) -> None:
        start.wait()
        for _ in range(40):
            summaries.extend(summary for _name, summary in worker.run_due())

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for engine in engines:
            engine.dispose()
    assert overlaps == []
    assert sum(ran) == summaries.count("ran") > 0
    skipped = summaries.count("skipped: another worker is running this job")
    assert sum(ran) + skipped == 80


def test_serve_with_worker_runs_the_jobs_beside_the_server(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """`make run` serves with --worker: the audit trail of a dev vault gets sealed."""
    app = make_app()
    commit_events(app, 5)
    log = tmp_path / "served.log"
    with served_vault(app, log, "--worker", VAULT_AUDIT_SEAL_SECONDS="1"):
        assert sealed_within(app, 5, seconds=20) >= 5
    assert "Scheduled jobs in this process" in log.read_text(encoding="utf-8")


def test_serve_seals_the_audit_log_by_default(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """Without --worker, `vault serve` still seals: a served vault's log never waits unsealed
    past the limit because nobody started a worker."""
    app = make_app()
    commit_events(app, 4)
    log = tmp_path / "served.log"
    with served_vault(app, log, VAULT_AUDIT_SEAL_SECONDS="1"):
        assert sealed_within(app, 4, seconds=20) >= 4
    scheduled = "audit sealing every 1 s, events relayed as they come."
    assert f"Scheduled jobs in this process: {scheduled}" in log.read_text("utf-8")
