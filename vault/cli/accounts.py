"""``vault users`` and ``vault tokens``: staff users and the API clients of consumer systems.
Each command runs in one transaction; each change is audited as done from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from vault import runtime
from vault.audit.service import AuditContext
from vault.auth.clients import client_id_for_name, list_clients, register_client, revoke_client
from vault.auth.service import principal_for_client
from vault.auth.sessions import SessionPolicy
from vault.auth.staff import (
    disable_user,
    enable_user,
    list_staff,
    register_user,
    user_id_for_email,
)
from vault.cli.base import table, when
from vault.db import db

CLI_CONTEXT = AuditContext(actor_kind="system", actor_id="cli")


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Staff users."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", "roles", required=True, multiple=True, help="Repeat for several roles.")
def users_create(email: str, password: str, roles: tuple[str, ...]) -> None:
    """Create a staff user."""
    with db.transaction() as session:
        user = register_user(
            session,
            CLI_CONTEXT,
            email=email,
            password=password,
            roles=list(roles),
            min_password_length=runtime.settings().password_min_length,
            now=runtime.now(),
        )
        click.echo(f"Created user {user.id} ({user.email}) with roles {', '.join(sorted(roles))}.")


@users_group.command("list")
def users_list() -> None:
    """Every staff user: id, email, roles, whether active, last log-in, open sessions."""
    now = runtime.now()
    policy = SessionPolicy.from_settings(runtime.settings())
    with db.transaction() as session:
        members = list_staff(session, now=now, policy=policy)
        rows = [
            (m.user.id, m.user.email, ",".join(sorted(r.name for r in m.user.roles)),
             "active" if m.user.active else "disabled", when(m.user.last_login_at),
             str(m.open_sessions))
            for m in members
        ]  # fmt: skip
    table(("ID", "EMAIL", "ROLES", "STATE", "LAST LOG-IN", "OPEN SESSIONS"), rows)


@users_group.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable a user: no more log-ins, and every session of theirs ends now."""
    with db.transaction() as session:
        user, ended = disable_user(
            session, user_id_for_email(session, email), CLI_CONTEXT, now=runtime.now()
        )
        click.echo(f"Disabled user {user.id}; {ended} sessions ended.")


@users_group.command("enable")
@click.argument("email")
def users_enable(email: str) -> None:
    """Let a disabled user log in again (their old sessions stay ended)."""
    with db.transaction() as session:
        user = enable_user(
            session, user_id_for_email(session, email), CLI_CONTEXT, now=runtime.now()
        )
        click.echo(f"Enabled user {user.id}.")


@click.group("tokens", cls=AppGroup)
def tokens_group() -> None:
    """API client tokens for consumer systems."""


@tokens_group.command("create")
@click.option("--name", required=True, help="The consumer system, e.g. crm-eu.")
@click.option("--role", required=True)
@click.option("--purpose", "purposes", multiple=True, help="Limit to these purposes (repeat).")
@click.option("--expires-days", type=click.IntRange(min=1), default=None)
@click.option("--region", "regions", multiple=True, help="Limit to these regions (repeat).")
def tokens_create(
    name: str,
    role: str,
    purposes: tuple[str, ...],
    expires_days: int | None,
    regions: tuple[str, ...],
) -> None:
    """Create an API client and print its token once, alone on the last line."""
    with db.transaction() as session:
        client, token = register_client(
            session,
            CLI_CONTEXT,
            name=name,
            role=role,
            purposes=list(purposes),
            expires_days=expires_days,
            regions=list(regions),
            now=runtime.now(),
        )
        scope = (
            ", ".join(sorted(p.code for p in client.purpose_limit)) or "every purpose of its role"
        )
        expiry = client.expires_at.isoformat() if client.expires_at else "never"
    click.echo(f"Created API client {client.id} ({client.name}), role {role}, purposes: {scope}.")
    click.echo(f"Expires: {expiry}. The token is shown once and only its hash is kept:")
    click.echo(token)


@tokens_group.command("list")
def tokens_list() -> None:
    """Every API client, revoked ones too: name, role, purposes, regions, created, last
    used, expiry, revoked."""
    with db.transaction() as session:
        rows = []
        for client in list_clients(session):
            principal = principal_for_client(client)
            rows.append((
                client.name, client.role_name, ",".join(sorted(principal.purposes)) or "-",
                ",".join(sorted(principal.regions or ())) or "all", when(client.created_at),
                when(client.last_used_at), when(client.expires_at),
                when(client.revoked_at, "no"),
            ))  # fmt: skip
    table(("NAME", "ROLE", "PURPOSES", "REGIONS", "CREATED", "LAST USED", "EXPIRES",
           "REVOKED"), rows)  # fmt: skip


@tokens_group.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke an API client's token: its next request is refused (401), in every worker.
    The client stays listed."""
    with db.transaction() as session:
        client = revoke_client(
            session, client_id_for_name(session, name), CLI_CONTEXT, now=runtime.now()
        )
        click.echo(f"Revoked API client {client.id} ({client.name}) at {when(client.revoked_at)}.")
