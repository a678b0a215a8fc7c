"""The ``vault`` command group: its app, the vault's errors as one-line messages, and the
tables commands print. Each command runs in one transaction: it commits once when it
succeeds and changes nothing when it fails."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, routes_command, shell_command

from vault.app import create_app
from vault.config import Settings
from vault.db import db
from vault.errors import VaultError


def current_settings() -> Settings:
    settings: Settings = current_app.config["VAULT_SETTINGS"]
    return settings


def when(moment: dt.datetime | None, missing: str = "never") -> str:
    """A time as a table shows it (to the second), or ``missing``."""
    return moment.isoformat(timespec="seconds") if moment else missing


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """Print rows in columns under a header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


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
