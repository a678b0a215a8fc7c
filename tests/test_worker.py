"""The scheduled jobs: their schedule, a failing job not stopping the others, and the
`vault worker` command sealing the audit log."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from flask import Flask

from tests.test_audit_integrity import write_events
from vault import runtime
from vault.audit.integrity import AUDIT_KEY_LABEL, verify_audit_log
from vault.bootstrap import prepare_database
from vault.cli import main
from vault.db import db
from vault.worker import Job, Worker


def test_jobs_run_on_their_schedule_and_failures_are_contained() -> None:
    clock = [0.0]
    runs: list[str] = []

    def broken() -> str:
        runs.append("broken")
        raise RuntimeError("boom")

    worker = Worker(
        [Job("fast", 1, lambda: runs.append("fast") or "ok"), Job("slow", 10, broken)],
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
    }
    result = CliRunner(env=env).invoke(main, ["worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "audit.seal: sealed 9 events in 1 seals" in result.stdout
    with app.app_context():
        report = verify_audit_log(db.session, runtime.key_provider().derived_key(AUDIT_KEY_LABEL))
    assert report.ok
    assert (report.events, report.unsealed) == (9, 0)
