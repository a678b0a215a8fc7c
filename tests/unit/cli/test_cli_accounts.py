"""`vault users list/disable/enable` and `vault tokens list/revoke`: what they print, and that
a change applies on the very next request of every app over the same database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask

from tests.helpers import PASSWORD, bearer, init, log_in, refused, run
from vault.audit.models import AuditEvent
from vault.clock import SystemClock
from vault.db import create_db_engine

EMAIL = "sam@example.com"


def audit_rows(env: dict[str, str], action: str) -> list[tuple[str, str, str]]:
    engine = create_db_engine(env["VAULT_DATABASE_URL"])
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditEvent.actor_kind, AuditEvent.actor_id, AuditEvent.reason).where(
                AuditEvent.action == action
            )
        ).all()
    engine.dispose()
    return [(kind, actor, reason) for kind, actor, reason in rows]


def test_users_list_disable_and_enable(env: dict[str, str], make_app: Callable[..., Flask]) -> None:
    init(env)
    created = run(env, "users", "create", "--email", EMAIL, "--password", PASSWORD,
                  "--role", "sales", "--role", "support")  # fmt: skip
    user_id = created.stdout.split()[2]
    one, two = (make_app(env["VAULT_DATABASE_URL"]) for _ in range(2))
    for app in (one, two):  # the command's clock is the system's: so are the apps'
        app.extensions["vault.clock"] = SystemClock()
    here, there = one.test_client(), two.test_client()
    assert log_in(here, EMAIL).status_code == 302
    assert log_in(there, EMAIL).status_code == 302

    listed = run(env, "users", "list")
    assert listed.exit_code == 0, listed.output
    header, *lines = listed.stdout.splitlines()
    assert header.split() == ["ID", "EMAIL", "ROLES", "STATE", "LAST", "LOG-IN", "OPEN", "SESSIONS"]
    (sam,) = [line.split() for line in lines if EMAIL in line]
    assert sam[:4] == [user_id, EMAIL, "sales,support", "active"]
    last_login = dt.datetime.fromisoformat(sam[4])
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - last_login < dt.timedelta(minutes=1)
    assert sam[5] == "2"
    (admin,) = [line.split() for line in lines if "admin@example.com" in line]
    assert admin[3:] == ["active", "never", "0"]

    disabled = run(env, "users", "disable", "SAM@example.com")
    assert disabled.exit_code == 0, disabled.output
    assert f"Disabled user {user_id}; 2 sessions ended." in disabled.stdout
    assert refused(here)
    assert refused(there)
    assert log_in(two.test_client(), EMAIL).status_code == 401
    (sam,) = [
        line.split() for line in run(env, "users", "list").stdout.splitlines() if EMAIL in line
    ]
    assert (sam[3], sam[5]) == ("disabled", "0")

    enabled = run(env, "users", "enable", EMAIL)
    assert f"Enabled user {user_id}." in enabled.stdout
    assert refused(here)
    assert log_in(one.test_client(), EMAIL).status_code == 302
    assert audit_rows(env, "user.disable") == [("system", "cli", user_id)]
    assert audit_rows(env, "user.enable") == [("system", "cli", user_id)]
    assert audit_rows(env, "user.create") == [("system", "cli", user_id)]


def test_users_disable_refuses_an_unknown_user_or_the_last_admin(env: dict[str, str]) -> None:
    init(env)
    unknown = run(env, "users", "disable", "nobody@example.com")
    assert unknown.exit_code == 1
    assert "no user has this email address" in unknown.output
    last = run(env, "users", "disable", "admin@example.com")
    assert last.exit_code == 1
    assert "last active admin" in last.output
    assert audit_rows(env, "user.disable") == []


def test_tokens_list_and_revoke(env: dict[str, str], make_app: Callable[..., Flask]) -> None:
    init(env)
    created = run(env, "tokens", "create", "--name", "crm-eu", "--role", "sales",
                  "--purpose", "sales", "--region", "EU", "--expires-days", "30")  # fmt: skip
    token = created.stdout.splitlines()[-1]
    client_id = "cli_" + token.split("_")[1]
    run(env, "tokens", "create", "--name", "helpdesk", "--role", "support")
    one, two = (make_app(env["VAULT_DATABASE_URL"]) for _ in range(2))
    for app in (one, two):  # the command's clock is the system's: so are the apps'
        app.extensions["vault.clock"] = SystemClock()
    here, there = one.test_client(), two.test_client()
    assert here.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert there.get("/api/v1/me", headers=bearer(token)).status_code == 200

    listed = run(env, "tokens", "list")
    assert listed.exit_code == 0, listed.output
    header, *lines = listed.stdout.splitlines()
    assert header.split() == ["NAME", "ROLE", "PURPOSES", "REGIONS", "CREATED", "LAST", "USED",
                              "EXPIRES", "REVOKED"]  # fmt: skip
    crm, helpdesk = (line.split() for line in lines)
    assert crm[:4] == ["crm-eu", "sales", "sales", "EU"]
    assert crm[4] <= crm[5] < crm[6]  # created, then used, and expiring later
    assert crm[7] == "no"
    assert (dt.datetime.fromisoformat(crm[6]) - dt.datetime.fromisoformat(crm[4])).days == 30
    assert helpdesk[:4] == ["helpdesk", "support", "support", "all"]
    assert helpdesk[5:] == ["never", "never", "no"]
    assert token.split("_", 2)[2] not in listed.stdout  # the whole secret (it may hold "_")

    revoked = run(env, "tokens", "revoke", "crm-eu")
    assert revoked.exit_code == 0, revoked.output
    assert f"Revoked API client {client_id} (crm-eu)" in revoked.stdout
    assert here.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert there.get("/api/v1/me", headers=bearer(token)).status_code == 401
    crm = run(env, "tokens", "list").stdout.splitlines()[1].split()
    assert crm[0] == "crm-eu"
    assert crm[7] != "no"
    assert audit_rows(env, "client.revoke") == [("system", "cli", client_id)]
    assert ("system", "cli", client_id) in audit_rows(env, "client.create")

    unknown = run(env, "tokens", "revoke", "nobody")
    assert unknown.exit_code == 1
    assert "no API client has this name" in unknown.output
