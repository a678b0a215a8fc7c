"""`vault retention`: the rules and the sweep that applies them."""

from __future__ import annotations

import sys
from typing import Any

import click

from vault.cli.base import main
from vault.db import db
from vault.governance.retention import DEFAULT_BATCH, MAX_BATCH
from vault.governance.retention_rules import rules
from vault.jobs import run_sweep
from vault.worker import job_lock


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

        report = run_sweep(dry_run=dry_run, batch_size=batch_size, bar=bar)
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
