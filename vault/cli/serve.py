"""`vault serve`: the development server, or gunicorn with --workers."""

from __future__ import annotations

import threading

import click
from flask import current_app
from werkzeug.serving import run_simple

from vault.cli.base import current_settings, main
from vault.jobs import schedule_summary, scheduled_jobs
from vault.serving import VaultServer


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--worker", "with_worker", is_flag=True,
    help="Also run the other scheduled jobs (as `vault worker` does) in this process.",
)  # fmt: skip
@click.option(
    "--no-jobs", is_flag=True,
    help="Run no scheduled job here, not even audit sealing and the event relay (a `vault "
    "worker` runs them).",
)  # fmt: skip
@click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Serve through gunicorn with this many worker processes (the production server); "
    "without it, one development process.",
)  # fmt: skip
@click.option(
    "--threads", type=click.IntRange(min=1, max=64), default=1, show_default=True,
    help="Threads per gunicorn worker (with --workers).",
)  # fmt: skip
def serve_command(
    *, host: str, port: int, with_worker: bool, no_jobs: bool, workers: int | None, threads: int
) -> None:
    """Serve the API, the privacy portal and the admin UI, sealing the audit log every
    VAULT_AUDIT_SEAL_SECONDS and relaying events to subscribed systems unless --no-jobs.
    With --workers N, gunicorn serves with N worker processes and the jobs run once, in its
    master; its control socket is gunicorn.ctl in the instance folder."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if with_worker and no_jobs:
        raise click.UsageError("give --worker or --no-jobs, not both")
    if workers is None and threads != 1:
        raise click.UsageError("--threads is for gunicorn's workers: give --workers too")
    if not current_settings().secret_key:
        if workers is not None:
            raise click.ClickException(
                "no secret key is kept yet: run `vault init` (every worker must sign"
                " log-ins with the same key)"
            )
        click.echo(
            "No secret key is kept yet (run `vault init`): log-ins last until restart.", err=True
        )
    jobs = None
    if not no_jobs:
        own = {"audit.seal", "events.relay"}
        jobs = scheduled_jobs(app, only=None if with_worker else own).run_until
        summary = schedule_summary(current_settings()) if with_worker else (
            f"audit sealing every {current_settings().audit_seal_seconds} s, events relayed"
            " as they come")  # fmt: skip
        where = "the server's master process" if workers else "this process"
        click.echo(f"Scheduled jobs in {where}: {summary}.")
    click.echo(f"Vault on http://{host}:{port}  (admin UI: /admin, API docs: /api/v1/docs)")
    if workers is not None:
        VaultServer(app, bind=f"{host}:{port}", workers=workers, threads=threads, jobs=jobs).run()
        return
    stop = threading.Event()
    if jobs is not None:
        threading.Thread(target=jobs, args=(stop,), name="vault-worker", daemon=True).start()
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        stop.set()
