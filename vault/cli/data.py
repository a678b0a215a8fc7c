"""`vault demo` and `vault import`: customers from a generator or a CSV file."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import g
from sqlalchemy.orm import Session

from vault import defaults, runtime
from vault.audit.service import AuditContext
from vault.auth.models import ApiClient
from vault.auth.service import create_api_client, create_user, find_user_by_email
from vault.cli.base import current_settings, main
from vault.customers.importer import (
    BadHeader,
    CustomerImport,
    check_header,
    read_rows,
    write_report,
)
from vault.customers.models import Customer
from vault.db import db
from vault.demo import DemoCustomers
from vault.errors import describe_errors
from vault.governance.access_requests import set_owner
from vault.governance.models import CategoryOwner

DEMO_CREDENTIALS = "demo-credentials.txt"
DEMO_OWNER = "data.owner@vault.example"  # the demo's user with the data_owner role


@main.command("demo")
@click.option(
    "--customers", "count", default=200, show_default=True, type=click.IntRange(0, 1_000_000)
)
@click.option("--seed", type=int, default=None, help="Repeatable data for a given seed.")
@click.option("--if-empty", is_flag=True, help="Add customers only when the vault has none.")
def demo_command(count: int, seed: int | None, if_empty: bool) -> None:
    """Fill an initialised vault with synthetic customers, consents, interactions, one user
    per role and a token per consumer system, and print how to log in."""
    settings = current_settings()
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
        _own_unowned_categories(session, clock.now())
        for role in ("sales", "marketing", "support"):
            name = f"demo-{role}"
            if session.scalar(sa.select(ApiClient.id).where(ApiClient.name == name)) is None:
                _client, token = create_api_client(session, name=name, role=role, now=clock.now())
                lines.append(f"token  {name:32} {token}")
    return lines


def _own_unowned_categories(session: Session, now: dt.datetime) -> None:
    """The demo's data owner owns every category that has no owner, so that an access
    request can be asked for and approved in the demo."""
    owner = find_user_by_email(session, DEMO_OWNER)
    if owner is None:
        return
    catalogue = runtime.customer_store().catalogue
    owned = set(session.scalars(sa.select(CategoryOwner.category)))
    for category in sorted({spec.category for spec in catalogue.fields.values()} - owned):
        set_owner(session, catalogue, category, owner.id, now=now)
