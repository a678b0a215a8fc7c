"""`vault keys`: master-key versions and rotation."""

from __future__ import annotations

import sys

import click

from vault import runtime
from vault.cli.base import main
from vault.crypto.rotation import key_status, rotate_master_key
from vault.customers.data_keys import CustomerDataKeys
from vault.db import db


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
