"""`vault worker`: the scheduled jobs, until stopped."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app

from vault.cli.base import current_settings, main
from vault.jobs import schedule_summary, scheduled_jobs


@main.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and exit.")
def worker_command(once: bool) -> None:
    """Run the scheduled jobs until stopped: retention, grant expiry, privacy-request
    deadlines, audit sealing. Several workers may run at once: each job runs in one of them
    at a time."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = scheduled_jobs(app)
    if once:
        for name, summary in worker.run_due():
            click.echo(f"{name}: {summary}")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    click.echo(f"Worker running: {schedule_summary(current_settings())}.")
    worker.run_until(stop)
    click.echo("Worker stopped.")
