"""`vault init` and `vault db`: the database, keys and shipped defaults."""

from __future__ import annotations

import sys

import click

from vault import runtime
from vault.audit.sealing import AuditLogDamaged
from vault.bootstrap import (
    admin_exists,
    ensure_admin,
    ensure_master_key,
    restrict_instance,
    seed_defaults,
)
from vault.cli.base import current_settings, main
from vault.config import ensure_secret_key_file
from vault.db import db
from vault.governance.notes import seal_legacy_notes
from vault.migrate import current_revision, downgrade, schema_differences, upgrade


@main.command("init")
@click.option(
    "--admin-email", help="Email of the first admin (non-interactive with --admin-password)."
)
@click.option("--admin-password", help="Password of the first admin.")
def init_command(admin_email: str | None, admin_password: str | None) -> None:
    """Create or migrate the database, keys and shipped defaults, and the first admin.

    Idempotent: a second run changes nothing and says so.
    """
    settings = current_settings()
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
