"""`vault audit`: sealing and verification of the audit trail."""

from __future__ import annotations

import os
import sys

import click

from vault import runtime
from vault.cli.base import current_settings, main
from vault.db import db


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
    url = current_settings().database_url
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
