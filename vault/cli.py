"""The ``vault`` command. Each command runs in one transaction: it commits once when it
succeeds and changes nothing when it fails."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlalchemy as sa
from flask import Flask, current_app, g
from flask.cli import FlaskGroup, ScriptInfo, routes_command, shell_command
from werkzeug.serving import run_simple

from vault import defaults, runtime
from vault.app import create_app
from vault.audit.sealing import AuditLogDamaged
from vault.audit.service import SYSTEM, AuditContext
from vault.auth.models import ApiClient
from vault.auth.service import create_api_client, create_user, find_user_by_email
from vault.bootstrap import (
    admin_exists,
    ensure_admin,
    ensure_master_key,
    restrict_instance,
    seed_defaults,
)
from vault.cli_accounts import tokens_group, users_group
from vault.config import Settings, ensure_secret_key_file
from vault.crypto.rotation import key_status, rotate_master_key
from vault.customers.data_keys import CustomerDataKeys
from vault.customers.importer import (
    BadHeader,
    CustomerImport,
    check_header,
    read_rows,
    write_report,
)
from vault.customers.models import Customer
from vault.db import db, purge_sqlite_wal
from vault.demo import DemoCustomers
from vault.errors import VaultError, describe_errors
from vault.governance.access_requests import record_expired_grants
from vault.governance.notes import seal_legacy_notes
from vault.governance.privacy import PrivacyDesk
from vault.governance.privacy_queue import record_deadlines
from vault.governance.retention import DEFAULT_BATCH, MAX_BATCH, Sweep, SweepReport
from vault.governance.retention_rules import rules
from vault.migrate import current_revision, downgrade, schema_differences, upgrade
from vault.serving import VaultServer
from vault.worker import Job, Worker, exclusive, job_lock


def _settings() -> Settings:
    settings: Settings = current_app.config["VAULT_SETTINGS"]
    return settings


def _fail(exc: VaultError) -> NoReturn:
    message = exc.detail
    if exc.errors:
        message += ": " + "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
    raise click.ClickException(message)


class VaultGroup(FlaskGroup):
    """Turns the vault's own errors into a one-line message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VaultError as exc:
            _fail(exc)
        finally:
            # Close the command's database connections now, not at interpreter exit.
            app = getattr(ctx.find_object(ScriptInfo), "_loaded_app", None)
            if app is not None:
                db.state(app).engine.dispose()


def _command_app() -> Flask:
    """The app of a command: `vault init` may start a production vault that has no secret
    key or master key file yet (it writes them); every other command refuses to."""
    context = click.get_current_context(silent=True)
    return create_app(initialising=context is not None and context.info_name == "init")


@click.group(
    cls=VaultGroup,
    create_app=_command_app,
    add_default_commands=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def main() -> None:
    """Vault: governed, encrypted customer data."""


main.add_command(shell_command)
main.add_command(routes_command)
main.add_command(users_group)
main.add_command(tokens_group)


@main.command("init")
@click.option(
    "--admin-email", help="Email of the first admin (non-interactive with --admin-password)."
)
@click.option("--admin-password", help="Password of the first admin.")
def init_command(admin_email: str | None, admin_password: str | None) -> None:
    """Create or migrate the database, keys and shipped defaults, and the first admin.

    Idempotent: a second run changes nothing and says so.
    """
    settings = _settings()
    changes: list[str] = []
    settings.instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    changes += restrict_instance(settings)
    if ensure_secret_key_file(settings):
        changes.append(f"wrote a new secret key to {settings.secret_key_file}")
    changes += ensure_master_key(settings)
    before, after = upgrade(db.engine)
    if before != after:
        changes.append(f"migrated the database from {before or 'an empty schema'} to {after}")
    with db.transaction() as session:
        changes += seed_defaults(session)
        changes += seal_legacy_notes(session, runtime.note_cipher())
        if bool(admin_email) != bool(admin_password):
            raise click.UsageError("give both --admin-email and --admin-password, or neither")
        if admin_email is None and not admin_exists(session) and sys.stdin.isatty():
            admin_email = click.prompt("Email of the first admin")
            admin_password = click.prompt(
                "Password of the first admin", hide_input=True, confirmation_prompt=True
            )
        if admin_email and admin_password:
            changes += ensure_admin(
                session, admin_email, admin_password, settings.password_min_length
            )
        no_admin = not admin_exists(session)
    try:
        changes += runtime.audit_log().initialise(db.session, now=runtime.now())
    except AuditLogDamaged as exc:
        click.echo(f"The audit log is damaged and was left as it is: {exc.detail}.", err=True)
    for change in changes:
        click.echo(f"- {change}")
    if not changes:
        click.echo("Nothing changed: the vault is already initialised.")
    else:
        click.echo(
            f"Initialised the vault at {db.engine.url.render_as_string(hide_password=True)}."
        )
    if no_admin:
        click.echo(
            "No admin user yet: run `vault init --admin-email E --admin-password P` "
            "or `vault users create --role admin`.",
            err=True,
        )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--worker", "with_worker", is_flag=True,
    help="Also run the other scheduled jobs (as `vault worker` does) in this process.",
)  # fmt: skip
@click.option(
    "--no-jobs", is_flag=True,
    help="Run no scheduled job here, not even audit sealing (a `vault worker` runs them).",
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
    VAULT_AUDIT_SEAL_SECONDS unless --no-jobs. With --workers N, gunicorn serves with N
    worker processes and the jobs run once, in its master; its control socket is
    gunicorn.ctl in the instance folder."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if with_worker and no_jobs:
        raise click.UsageError("give --worker or --no-jobs, not both")
    if workers is None and threads != 1:
        raise click.UsageError("--threads is for gunicorn's workers: give --workers too")
    if not _settings().secret_key:
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
        jobs = _scheduled_jobs(app, only=None if with_worker else {"audit.seal"}).run_until
        summary = _schedule_summary(_settings()) if with_worker else (
            f"audit sealing every {_settings().audit_seal_seconds} s")  # fmt: skip
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


@main.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    before, after = upgrade(db.engine, revision)
    if before == after:
        click.echo(f"Nothing changed: the database is at {after}.")
    else:
        click.echo(f"Migrated from {before or 'an empty schema'} to {after}.")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (``base`` removes every table)."""
    before, after = downgrade(db.engine, revision)
    click.echo(f"Migrated from {before} down to {after or 'an empty schema'}.")


@db_group.command("current")
def db_current() -> None:
    """Print the database's revision."""
    click.echo(current_revision(db.engine) or "empty")


@db_group.command("check")
def db_check() -> None:
    """Exit 1 when the models and the migrated database disagree."""
    differences = schema_differences(db.engine)
    if differences:
        for diff in differences:
            click.echo(f"- {diff}")
        raise click.ClickException("the models and the migrations disagree")
    click.echo("The models and the migrations agree.")


@main.group("keys")
def keys_group() -> None:
    """Master keys and customers' data keys."""


@keys_group.command("status")
def keys_status() -> None:
    """Master-key versions and how many data keys each wraps."""
    status = key_status(CustomerDataKeys(db.session), runtime.key_provider())
    click.echo(f"Current master-key version: {status.current_version}")
    click.echo(f"Versions held: {', '.join(map(str, status.versions))}")
    for version, count in sorted(status.data_keys_by_version.items()):
        click.echo(f"  version {version}: {count} data keys")
    click.echo(f"Destroyed data keys (erased customers): {status.destroyed}")
    if status.pending:
        click.echo(f"{status.pending} data keys await re-wrapping: run `vault keys rotate`.")


@keys_group.command("rotate")
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
def keys_rotate(batch_size: int) -> None:
    """Start a new master-key version and re-wrap every data key under it (values are not
    touched). Safe to interrupt: a rerun finishes an unfinished rotation."""
    keys = CustomerDataKeys(db.session)
    provider = runtime.key_provider()
    status = key_status(keys, provider)
    total = status.pending or sum(status.data_keys_by_version.values())
    keys.commit()
    with click.progressbar(length=total, label="Re-wrapping data keys", file=sys.stderr) as bar:
        report = rotate_master_key(keys, provider, batch_size=batch_size, on_batch=bar.update)
    if report.started_new_version:
        click.echo(f"Started master-key version {report.version}.")
    else:
        click.echo(f"Resumed the unfinished rotation to version {report.version}.")
    click.echo(f"Re-wrapped {report.rewrapped} data keys; every value is unchanged.")


DEMO_CREDENTIALS = "demo-credentials.txt"


@main.command("demo")
@click.option(
    "--customers", "count", default=200, show_default=True, type=click.IntRange(0, 1_000_000)
)
@click.option("--seed", type=int, default=None, help="Repeatable data for a given seed.")
@click.option("--if-empty", is_flag=True, help="Add customers only when the vault has none.")
def demo_command(count: int, seed: int | None, if_empty: bool) -> None:
    """Fill an initialised vault with synthetic customers, consents, interactions, one user
    per role and a token per consumer system, and print how to log in."""
    settings = _settings()
    credentials_file = settings.instance_path / DEMO_CREDENTIALS
    session = db.session
    existing = session.scalar(sa.select(sa.func.count()).select_from(Customer)) or 0
    session.commit()
    if if_empty and existing:
        click.echo(f"The vault already holds {existing} customers; no demo data added.")
        count = 0
    lines = _demo_principals(settings.password_min_length)
    generator = DemoCustomers(seed)
    done = 0
    with click.progressbar(length=count, label="Creating customers", file=sys.stderr) as bar:
        while done < count:
            batch = min(500, count - done)
            with db.transaction():
                store = runtime.customer_store()
                for _ in generator.populate(store, batch, start=existing + done):
                    bar.update(1)
            g.pop("_vault_customer_store", None)
            done += batch
    if count:
        click.echo(f"Created {count} customers with consents and interactions.")
    if lines:
        fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    if credentials_file.exists():
        click.echo(f"Demo log-ins and tokens (kept in {credentials_file}):")
        click.echo(credentials_file.read_text(encoding="utf-8").rstrip())


IMPORT_CONTEXT = AuditContext(actor_kind="system", actor_id="import")


@main.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--region", default=None, help="The region of rows without a region column.")
@click.option(
    "--errors", "errors_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Where to write the rejected rows (default: SOURCE.errors.csv).",
)  # fmt: skip
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 5_000))
def import_command(
    source: Path, region: str | None, errors_path: Path | None, batch_size: int
) -> None:
    """Import customers from a CSV file whose header names catalogue fields (and region).

    Every row is validated and de-duplicated on unique fields (within the file and against
    the vault); a row is imported whole or not at all. Rejected rows are listed, by line,
    field names and reason (never a value), in the error report. Exit 0 when every row was
    imported, 1 when some were rejected, 2 when the file cannot be read as customers."""
    errors_path = errors_path or source.with_name(source.name + ".errors.csv")
    with source.open(encoding="utf-8-sig", newline="") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
    store = runtime.customer_store()
    if region is not None and region not in store.regions:
        raise click.BadParameter(f"must be one of {', '.join(sorted(store.regions))}",
                                 param_hint="--region")  # fmt: skip
    with source.open(encoding="utf-8-sig", newline="") as handle:
        header, rows = read_rows(handle)
        try:
            check_header(store, header, region=region)
        except BadHeader as exc:
            problems = describe_errors(exc.errors)
            raise click.UsageError(f"{exc.detail}: {problems}") from None
        importer = CustomerImport(store, IMPORT_CONTEXT, region=region, batch_size=batch_size,
                                  commit=db.session.commit)  # fmt: skip
        with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
            report = importer.run(rows, bar.update)
    db.session.commit()
    click.echo(f"Imported {report.imported} of {report.rows} rows.")
    if report.rejected:
        with errors_path.open("w", encoding="utf-8", newline="") as out:
            write_report(report, out)
        click.echo(
            f"Rejected {len(report.rejected)} rows ({report.duplicates} duplicates);"
            f" see {errors_path}."
        )
        raise SystemExit(1)


def _demo_principals(min_password_length: int) -> list[str]:
    """One user per role and a token per consumer system, unless they exist already."""
    lines: list[str] = []
    clock = runtime.clock()
    with db.transaction() as session:
        for role in defaults.ROLES:
            email = f"{role.replace('_', '.')}@vault.example"
            if find_user_by_email(session, email) is None:
                password = secrets.token_urlsafe(12)
                create_user(session, email=email, password=password, roles=[role],
                            min_password_length=min_password_length)  # fmt: skip
                lines.append(f"user   {email:32} password {password}")
        for role in ("sales", "marketing", "support"):
            name = f"demo-{role}"
            if session.scalar(sa.select(ApiClient.id).where(ApiClient.name == name)) is None:
                _client, token = create_api_client(session, name=name, role=role, now=clock.now())
                lines.append(f"token  {name:32} {token}")
    return lines


@main.group("audit")
def audit_group() -> None:
    """The audit trail: sealing and verification."""


@audit_group.command("seal")
def audit_seal() -> None:
    """Seal every audit event not yet sealed (the worker does this every few seconds). An
    event that fails its MAC or repeats another is not sealed: exit 1, naming it."""
    report = runtime.audit_log().seal(db.session, now=runtime.now())
    if report.events:
        click.echo(f"Sealed {report.events} events in {report.seals} seals.")
    elif not report.refused:
        click.echo("Nothing to seal.")
    for event_id, problem in report.refused:
        click.echo(f"Event {event_id} was not sealed: it {problem}.", err=True)
    if report.refused:
        sys.exit(1)


@audit_group.command("verify")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=lambda: os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="Processes that check the seals' events.",
)
def audit_verify(jobs: int) -> None:
    """Exit 0 when the audit log is intact and complete, 1 naming the first broken position:
    a changed, missing or added event, seal, link or head; a head older than the anchor; an
    unsealed event that fails its MAC or has waited longer than the limit."""
    url = _settings().database_url
    report = runtime.audit_log().verify(db.session, now=runtime.now(), jobs=jobs, database_url=url)
    if not report.ok:
        click.echo(f"The audit log is NOT intact: {report.problem}.", err=True)
        sys.exit(1)
    pending = f"{report.unsealed} events not sealed yet"
    if report.oldest_unsealed is not None:
        waited = int((runtime.now() - report.oldest_unsealed).total_seconds())
        pending += f", the oldest for {waited} s"
    click.echo(
        f"The audit log is intact: {report.events} events in {report.seals} seals verified"
        f" against {runtime.audit_log().anchor.description} ({pending})."
    )


def _sweep(*, dry_run: bool, batch_size: int = DEFAULT_BATCH, bar: Any = None) -> SweepReport:
    """One retention sweep in this app context, a commit per batch."""
    store = runtime.customer_store()
    sweep = Sweep(db.session, store.keyring, store.catalogue, now=runtime.now(),
                  batch_size=batch_size, commit=db.session.commit,
                  forget_mail=runtime.mailer().forget)  # fmt: skip
    if bar is None:
        report = sweep.run(dry_run=dry_run)
    else:
        with bar(sweep.candidates()) as progress:
            report = sweep.run(dry_run=dry_run, progress=progress.update)
    if report.erased and not dry_run:
        purge_sqlite_wal(db.engine)
    return report


@main.group("retention")
def retention_group() -> None:
    """Retention rules and the sweep that applies them."""


@retention_group.command("rules")
def retention_rules() -> None:
    """List the retention rules."""
    for rule in rules(db.session):
        target = rule.field or rule.category or "customer"
        trigger = rule.trigger + (f"({rule.purpose})" if rule.purpose else "")
        state = "" if rule.enabled else "  [disabled]"
        click.echo(
            f"{rule.id:44} {rule.action:14} {target:14} {rule.period_days:>6} days after"
            f" {trigger}{state}"
        )


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Report what would be erased; change nothing.")
@click.option(
    "--batch-size", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(1, MAX_BATCH)
)
def retention_run(dry_run: bool, batch_size: int) -> None:
    """Apply the retention rules now. Each batch commits with its audit events, so an
    interrupted run loses nothing and a rerun finishes it. Customers under a legal hold are
    never touched."""
    with job_lock(db.engine, "retention.sweep") as taken:
        if not taken:
            raise click.ClickException("another retention sweep is running; try again later")

        def bar(length: int) -> Any:
            label = "Checking customers" if dry_run else "Applying retention"
            return click.progressbar(length=length, label=label, file=sys.stderr)

        report = _sweep(dry_run=dry_run, batch_size=batch_size, bar=bar)
    for rule in report.rules:
        target = ", ".join(rule.fields) if rule.fields else "whole customer"
        done = "to erase" if dry_run else "erased"
        click.echo(
            f"{rule.rule_id}: {rule.action} ({target}): {rule.due} due, {rule.erased} {done},"
            f" {rule.held} held"
        )
    if dry_run:
        click.echo(
            f"Dry run: {report.erased} erasures due, {report.held} held back by legal holds;"
            " nothing changed."
        )
    else:
        click.echo(
            f"Applied {report.erased} erasures; {report.held} held back by legal holds. Each is"
            " in the audit trail."
        )


def _scheduled_jobs(app: Flask, only: set[str] | None = None) -> Worker:
    """The worker's jobs over ``app`` (those named in ``only``, or all), each under its lock
    (one worker at a time per job)."""
    settings = app.config["VAULT_SETTINGS"]

    def seal() -> str:
        with app.app_context():
            report = runtime.audit_log().seal(db.session, now=runtime.now())
            db.session.commit()
            refused = f"; {len(report.refused)} events refused" if report.refused else ""
            return f"sealed {report.events} events in {report.seals} seals{refused}"

    def sweep() -> str:
        with app.app_context():
            report = _sweep(dry_run=False)
            done = {"erase_field": 0, "anonymise": 0, "erase_customer": 0}
            for rule in report.rules:
                done[rule.action] += rule.erased
            return (
                f"fields erased for {done['erase_field']} customers, {done['anonymise']}"
                f" anonymised, {done['erase_customer']} erased; {report.held} held back"
            )

    def expire() -> str:
        with app.app_context():
            expired = record_expired_grants(db.session, SYSTEM, now=runtime.now())
            db.session.commit()
            return f"{len(expired)} grants expired"

    def deadlines() -> str:
        with app.app_context():
            report = record_deadlines(PrivacyDesk(runtime.customer_store(), SYSTEM))
            db.session.commit()
            return (
                f"{report['overdue']} privacy requests overdue,"
                f" {report['lapsed']} unverified ones lapsed"
            )

    with app.app_context():
        engine = db.engine
    jobs = [
            # in this order, so that one pass seals the events the others wrote
            Job("retention.sweep", settings.retention_sweep_seconds,
                exclusive(engine, "retention.sweep", sweep)),
            Job("grants.expire", settings.grant_expiry_seconds,
                exclusive(engine, "grants.expire", expire)),
            Job("privacy.deadlines", settings.privacy_deadline_seconds,
                exclusive(engine, "privacy.deadlines", deadlines)),
            Job("audit.seal", settings.audit_seal_seconds, exclusive(engine, "audit.seal", seal)),
    ]  # fmt: skip
    return Worker([job for job in jobs if only is None or job.name in only])


def _schedule_summary(settings: Settings) -> str:
    return (
        f"audit sealing every {settings.audit_seal_seconds} s, retention every"
        f" {settings.retention_sweep_seconds} s, grant expiry every"
        f" {settings.grant_expiry_seconds} s, privacy-request deadlines every"
        f" {settings.privacy_deadline_seconds} s"
    )


@main.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and exit.")
def worker_command(once: bool) -> None:
    """Run the scheduled jobs until stopped: retention, grant expiry, privacy-request
    deadlines, audit sealing. Several workers may run at once: each job runs in one of them
    at a time."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = _scheduled_jobs(app)
    if once:
        for name, summary in worker.run_due():
            click.echo(f"{name}: {summary}")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    click.echo(f"Worker running: {_schedule_summary(_settings())}.")
    worker.run_until(stop)
    click.echo("Worker stopped.")
