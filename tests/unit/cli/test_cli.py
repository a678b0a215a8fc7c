"""The `vault` command: init (and its idempotence), users, tokens and the database group."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from tests.helpers import PASSWORD, SAMPLE_FIELDS, bearer, init, run
from vault import runtime
from vault.auth.models import ApiClient, User
from vault.cli import main
from vault.db import create_db_engine, db
from vault.governance.models import CategoryOwner


def test_init_creates_everything_and_a_second_run_changes_nothing(env: dict[str, str]) -> None:
    first = init(env)
    assert first.exit_code == 0, first.output
    assert "migrated the database" in first.stdout
    assert "created role compliance_officer" in first.stdout
    assert "created purpose marketing (consent)" in first.stdout
    assert "created admin user admin@example.com" in first.stdout
    assert "created field email (contact)" in first.stdout
    assert "created the master key file" in first.stdout
    key_file = Path(env["VAULT_INSTANCE_PATH"]) / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    master_key = Path(env["VAULT_INSTANCE_PATH"]) / "master.key"
    assert stat.S_IMODE(master_key.stat().st_mode) == 0o600
    key = key_file.read_text()
    master = master_key.read_text()

    second = init(env)
    assert second.exit_code == 0, second.output
    assert second.stdout.strip() == "Nothing changed: the vault is already initialised."
    assert key_file.read_text() == key
    assert master_key.read_text() == master

    engine = create_db_engine(env["VAULT_DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(User)) == 1
        roles = set(conn.scalars(sa.text("SELECT name FROM roles")))
    engine.dispose()
    assert roles == {
        "admin",
        "compliance_officer",
        "data_owner",
        "sales",
        "marketing",
        "support",
        "staff",
    }


def test_init_adds_rules_shipped_since_the_store_was_seeded_once(env: dict[str, str]) -> None:
    assert init(env).exit_code == 0
    engine = create_db_engine(env["VAULT_DATABASE_URL"])
    relationship = sa.text("SELECT count(*) FROM casbin_rule WHERE v1 = 'relationship'")
    forget = sa.text("DELETE FROM casbin_rule WHERE v1 = 'relationship'")
    try:
        # a store seeded by the first release: no relationship rule, no note of the release
        with engine.begin() as conn:
            conn.execute(forget)
            conn.execute(sa.text("DELETE FROM change_counters WHERE name = 'policies_shipped'"))
        upgraded = init(env)
        assert upgraded.exit_code == 0, upgraded.output
        assert "added the shipped policy rule (sales, relationship, sales, write) -> allow" in (
            upgraded.stdout
        )
        with engine.connect() as conn:
            assert conn.scalar(relationship) == 1
        assert "Nothing changed" in init(env).stdout
        # an admin who removes the rule later keeps it removed
        with engine.begin() as conn:
            conn.execute(forget)
        assert "Nothing changed" in init(env).stdout
        with engine.connect() as conn:
            assert conn.scalar(relationship) == 0
    finally:
        engine.dispose()


def test_init_without_an_admin_says_how_to_add_one(env: dict[str, str]) -> None:
    result = run(env, "init")
    assert result.exit_code == 0
    assert "No admin user yet" in result.stderr


def test_init_needs_both_admin_flags(env: dict[str, str]) -> None:
    result = CliRunner(env=env).invoke(main, ["init", "--admin-email", "a@example.com"])
    assert result.exit_code == 2
    assert "both" in result.output


def test_users_create(env: dict[str, str]) -> None:
    init(env)
    result = run(
        env,
        "users",
        "create",
        "--email",
        "sam@example.com",
        "--password",
        PASSWORD,
        "--role",
        "sales",
    )
    assert result.exit_code == 0, result.output
    assert "Created user usr_" in result.stdout
    again = CliRunner(env=env).invoke(
        main,
        [
            "users",
            "create",
            "--email",
            "SAM@example.com",
            "--password",
            PASSWORD,
            "--role",
            "sales",
        ],
    )
    assert again.exit_code == 1
    assert "already exists" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--password", PASSWORD, "--role", "sales"], "email"),
        (["--email", "a@example.com", "--password", "short", "--role", "sales"], "at least 12"),
        (
            ["--email", "a@example.com", "--password", PASSWORD, "--role", "overlord"],
            "unknown role",
        ),
    ],
)
def test_users_create_refuses_bad_input(env: dict[str, str], args: list[str], message: str) -> None:
    init(env)
    result = CliRunner(env=env).invoke(main, ["users", "create", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert PASSWORD not in result.output


def test_tokens_create_prints_the_token_once_on_the_last_line(
    env: dict[str, str], make_app: Callable[..., Flask]
) -> None:
    init(env)
    result = run(
        env,
        "tokens",
        "create",
        "--name",
        "crm-eu",
        "--role",
        "sales",
        "--purpose",
        "sales",
        "--expires-days",
        "30",
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.rstrip("\n").splitlines()[-1]
    assert token.startswith("vault_")
    secret = token.split("_", 2)[2]
    engine = create_db_engine(env["VAULT_DATABASE_URL"])
    with engine.connect() as conn:
        hashes = list(conn.scalars(sa.select(ApiClient.token_hash)))
    engine.dispose()
    assert len(hashes) == 1
    assert secret not in hashes[0]

    app = make_app(env["VAULT_DATABASE_URL"])
    body = app.test_client().get("/api/v1/me", headers=bearer(token)).get_json()
    assert body["name"] == "crm-eu"
    assert body["purposes"] == ["sales"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--role", "sales", "--purpose", "marketing"], "may not use"),
        (["--name", "x", "--role", "sales", "--purpose", "gossip"], "unknown purpose"),
        (["--name", "x", "--role", "nobody"], "unknown role"),
        (["--name", "x", "--role", "sales", "--expires-days", "0"], "0"),
    ],
)
def test_tokens_create_refuses_bad_input(
    env: dict[str, str], args: list[str], message: str
) -> None:
    init(env)
    result = CliRunner(env=env).invoke(main, ["tokens", "create", *args])
    assert result.exit_code != 0
    assert message in result.output
    engine = create_db_engine(env["VAULT_DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(ApiClient)) == 0
    engine.dispose()


def test_db_commands(env: dict[str, str]) -> None:
    assert run(env, "db", "current").stdout.strip() == "empty"
    assert "Migrated from an empty schema" in run(env, "db", "upgrade").stdout
    assert "Nothing changed" in run(env, "db", "upgrade").stdout
    assert run(env, "db", "check").exit_code == 0
    assert run(env, "db", "downgrade", "base").exit_code == 0
    assert run(env, "db", "current").stdout.strip() == "empty"


def test_the_installed_console_script_runs_init_twice(env: dict[str, str]) -> None:
    script = Path(sys.executable).parent / "vault"
    full_env = {**os.environ, **env}
    args = [str(script), "init", "--admin-email", "a@example.com", "--admin-password", PASSWORD]
    first = subprocess.run(args, env=full_env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(args, env=full_env, capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stderr
    assert "Nothing changed" in second.stdout
    assert PASSWORD not in first.stdout + first.stderr + second.stdout + second.stderr


def test_keys_status_and_rotate(env: dict[str, str], make_app: Callable[..., Flask]) -> None:
    init(env)
    app = make_app(env["VAULT_DATABASE_URL"], instance_path=env["VAULT_INSTANCE_PATH"])
    with app.app_context(), db.transaction():
        store = runtime.customer_store()
        ids = [
            store.create({**SAMPLE_FIELDS, "email": f"k{i}@example.org"}, region="EU")
            for i in range(3)
        ]
    status = run(env, "keys", "status")
    assert "Current master-key version: 1" in status.stdout
    assert "version 1: 3 data keys" in status.stdout
    rotated = run(env, "keys", "rotate", "--batch-size", "2")
    assert rotated.exit_code == 0, rotated.output
    assert "Started master-key version 2." in rotated.stdout
    assert "Re-wrapped 3 data keys" in rotated.stdout
    assert "version 2: 3 data keys" in run(env, "keys", "status").stdout
    with app.app_context():
        records = runtime.customer_store().read(ids, ["email"])
        assert sorted(r.values["email"] for r in records) == [f"k{i}@example.org" for i in range(3)]


def test_demo_fills_the_vault_once_and_prints_how_to_log_in(
    env: dict[str, str], make_app: Callable[..., Flask]
) -> None:
    init(env)
    first = run(env, "demo", "--customers", "12", "--seed", "3", "--if-empty")
    assert first.exit_code == 0, first.output
    assert "Created 12 customers" in first.stdout
    tokens = [line.split()[-1] for line in first.stdout.splitlines() if line.startswith("token")]
    users = [line.split()[1] for line in first.stdout.splitlines() if line.startswith("user")]
    assert len(tokens) == 3
    assert "sales@vault.example" in users
    assert "compliance.officer@vault.example" in users
    credentials = Path(env["VAULT_INSTANCE_PATH"]) / "demo-credentials.txt"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600

    second = run(env, "demo", "--customers", "12", "--if-empty")
    assert "already holds 12 customers" in second.stdout
    assert tokens[0] in second.stdout

    app = make_app(env["VAULT_DATABASE_URL"], instance_path=env["VAULT_INSTANCE_PATH"])
    assert app.test_client().get("/api/v1/me", headers=bearer(tokens[0])).status_code == 200
    with app.app_context():
        store = runtime.customer_store()
        page = store.list_page(limit=100)
        records = store.read(page.ids, list(SAMPLE_FIELDS))
    assert len(records) == 12
    assert {r.region for r in records} <= {"EU", "UK", "US", "APAC"}
    assert all(r.values["email"].endswith((".com", ".net", ".org")) for r in records)
    assert all(r.values["phone"].startswith("+") for r in records)
    # every category has its owner, the demo's data owner: an access request can be tried
    with app.app_context():
        rows = db.session.execute(
            sa.select(CategoryOwner.category, User.email).join(
                User, User.id == CategoryOwner.user_id
            )
        )
        owners = {row[0]: row[1] for row in rows}
        categories = {spec.category for spec in runtime.customer_store().catalogue.fields.values()}
    assert set(owners) == categories
    assert set(owners.values()) == {"data.owner@vault.example"}
