"""`vault subscriptions`: a new subscription's secret printed once, alone on the last line; the
list with each one's client, backlog and failures; pause, resume, replay, the delivery log
and delete (asked first); bad input refused in one line on standard error, nothing made and
never a traceback; every change audited as the command line's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask

from tests.helpers import SAMPLE_FIELDS, bearer, init, run
from tests.support.receiver import running_receiver
from vault import jobs, services
from vault.audit.models import AuditEvent
from vault.cli import main
from vault.clock import SystemClock
from vault.db import create_db_engine, db
from vault.events.models import Subscription
from vault.events.subscriptions import open_secret


def create(**changes: str | list[str]) -> list[str]:
    """The arguments of `vault subscriptions create`, with ``changes`` to its options."""
    options = {"name": "crm-hooks", "url": "https://crm.example.org/h", "client": "crm",
               "event": ["customer.created", "customer.erased"], **changes}  # fmt: skip
    args = ["subscriptions", "create"]
    for option, values in options.items():
        for value in [values] if isinstance(values, str) else values:
            args += [f"--{option}", value]
    return args


def rows(env: dict[str, str], query: sa.Executable) -> list[tuple[Any, ...]]:
    engine = create_db_engine(env["VAULT_DATABASE_URL"])
    with engine.connect() as conn:
        found = [tuple(row) for row in conn.execute(query)]
    engine.dispose()
    return found


def names(env: dict[str, str]) -> list[str]:
    return [row[0] for row in rows(env, sa.select(Subscription.name))]


def audited(env: dict[str, str]) -> list[tuple[Any, ...]]:
    query = sa.select(AuditEvent.action, AuditEvent.actor_kind, AuditEvent.actor_id)
    return rows(env, query.where(AuditEvent.action.like("subscription.%")).order_by(AuditEvent.id))


def vault_with_a_client(env: dict[str, str]) -> str:
    """An initialised vault with the sales system ``crm``; returns its token."""
    init(env)
    return run(env, "tokens", "create", "--name", "crm", "--role", "sales").stdout.splitlines()[-1]


def refused(env: dict[str, str], *args: str) -> Result:
    """The command's answer, which must be a refusal in one line on standard error."""
    result = CliRunner(env=env).invoke(main, list(args))
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    if result.exit_code == 1:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def test_create_prints_the_secret_once_and_list_shows_the_subscription(
    env: dict[str, str], make_app: Callable[..., Flask]
) -> None:
    vault_with_a_client(env)
    created = run(env, *create())
    assert created.exit_code == 0, created.output
    *said, secret = created.stdout.rstrip("\n").splitlines()
    assert secret.startswith("whsec_")
    assert "shown once" in said[-1]
    (subscription_id,) = [w for w in said[0].split() if w.startswith("sub_")]
    app = make_app(env["VAULT_DATABASE_URL"])
    with app.app_context():
        stored = db.session.get(Subscription, subscription_id)
        assert stored is not None
        assert open_secret(services.webhook_secrets(), stored) == secret
        assert secret.encode() not in stored.secret_ciphertext

    listed = run(env, "subscriptions", "list")
    assert listed.exit_code == 0, listed.output
    header, line = listed.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "URL", "CLIENT", "EVENTS", "STATUS", "BACKLOG",
                              "FAILED", "LAST", "DELIVERED"]  # fmt: skip
    assert line.split() == [
        "crm-hooks", subscription_id, "https://crm.example.org/h", "crm",
        "customer.created,customer.erased", "active", "0", "0", "never",
    ]  # fmt: skip
    assert secret not in listed.stdout
    assert audited(env) == [("subscription.create", "system", "cli")]


def test_bad_input_is_refused_in_one_line_and_nothing_is_made(env: dict[str, str]) -> None:
    vault_with_a_client(env)
    cases: list[tuple[dict[str, str | list[str]], str]] = [
        ({"url": "ftp://crm.example.org/h"}, "url: must be an http or https URL"),
        ({"url": "http://169.254.169.254/latest"}, "link-local or cloud metadata"),
        ({"url": "http://[fe80::1]/h"}, "link-local"),
        ({"client": "nobody"}, "client: no active API client has this name"),
        ({"event": ["customer.created", "customer.exploded"]}, "events: give one or more of"),
    ]
    for changes, message in cases:
        result = refused(env, *create(**changes))
        assert result.exit_code == 1
        assert message in result.stderr, changes
    assert names(env) == []
    assert run(env, *create()).exit_code == 0
    taken = refused(env, *create(url="https://other.example.org/h", event="customer.updated"))
    assert "a subscription has this name" in taken.stderr
    assert names(env) == ["crm-hooks"]
    for args in (
        ("pause", "nobody"),
        ("resume", "nobody"),
        ("delete", "nobody", "--yes"),
        ("deliveries", "nobody"),
        ("replay", "nobody", "--from", "2026-01-01"),
    ):
        assert "no subscription has this name" in refused(env, "subscriptions", *args).stderr
    usage = refused(env, "subscriptions", "replay", "crm-hooks", "--from", "last tuesday")
    assert usage.exit_code == 2
    assert "is not an ISO 8601 time" in usage.stderr
    assert refused(env, "subscriptions", "create", "--name", "x").exit_code == 2
    assert refused(env, "subscriptions", "deliveries", "crm-hooks", "--limit", "0").exit_code == 2
    assert audited(env) == [("subscription.create", "system", "cli")]


def test_pause_resume_replay_the_delivery_log_and_delete(
    env: dict[str, str], make_app: Callable[..., Flask]
) -> None:
    token = vault_with_a_client(env)
    app = make_app(env["VAULT_DATABASE_URL"])
    app.extensions["vault.clock"] = SystemClock()  # the command's clock is the system's
    with running_receiver() as receiver:
        created = run(env, *create(url=receiver.url))
        assert created.exit_code == 0, created.output
        api = app.test_client()
        customers = []
        for n in range(2):
            body = {"fields": {**SAMPLE_FIELDS, "email": f"c{n}@example.org"}, "region": "EU"}
            answer = api.post("/api/v1/customers", json=body,
                              headers=bearer(token, **{"X-Purpose": "sales"}))  # fmt: skip
            assert answer.status_code == 201
            customers.append(answer.get_json()["id"])
        receiver.answers = [503]
        with app.app_context():
            jobs.relay(app.config["VAULT_SETTINGS"]).run_once()

        log = run(env, "subscriptions", "deliveries", "crm-hooks")
        assert log.exit_code == 0, log.output
        header, *lines = log.stdout.splitlines()
        assert header.split() == ["EVENT", "TYPE", "CUSTOMER", "STATUS", "ATTEMPTS", "LAST",
                                  "ANSWER", "NEXT", "RETRY"]  # fmt: skip
        entries = sorted(line.split() for line in lines)
        assert {e[2] for e in entries} == set(customers)
        kinds = sorted((e[1], e[3], e[4]) for e in entries)
        assert kinds == [
            ("customer.created", "delivered", "1"),
            ("customer.created", "pending", "1"),
        ]
        (waiting,) = [e for e in entries if e[3] == "pending"]
        assert waiting[5:7] == ["503", "http_error"]
        assert waiting[7].startswith("20")  # its next retry
        assert len(run(env, "subscriptions", "deliveries", "crm-hooks", "--limit", "1")
                   .stdout.splitlines()) == 2  # fmt: skip
        listed = run(env, "subscriptions", "list").stdout.splitlines()[1].split()
        assert listed[5:8] == ["active", "1", "0"]
        assert listed[8] != "never"

    paused = run(env, "subscriptions", "pause", "crm-hooks")
    assert paused.exit_code == 0, paused.output
    assert "Paused subscription sub_" in paused.stdout
    assert run(env, "subscriptions", "list").stdout.splitlines()[1].split()[5] == "paused"
    assert "Resumed" in run(env, "subscriptions", "resume", "crm-hooks").stdout
    replayed = run(env, "subscriptions", "replay", "crm-hooks", "--from", "2000-01-01T00:00+01:00")
    assert replayed.exit_code == 0, replayed.output
    assert "since 1999-12-31T23:00:00+00:00" in replayed.stdout
    assert "2 deliveries queued again" in replayed.stdout

    kept = CliRunner(env=env).invoke(main, ["subscriptions", "delete", "crm-hooks"], input="n\n")
    assert kept.exit_code == 1
    assert "cannot be undone" in kept.stdout
    assert names(env) == ["crm-hooks"]
    deleted = CliRunner(env=env).invoke(main, ["subscriptions", "delete", "crm-hooks"],
                                        input="y\n")  # fmt: skip
    assert deleted.exit_code == 0, deleted.output
    assert "Deleted subscription sub_" in deleted.stdout
    assert names(env) == []
    assert run(env, *create()).exit_code == 0
    assert run(env, "subscriptions", "delete", "crm-hooks", "--yes").exit_code == 0
    assert names(env) == []
    assert [action for action, *_ in audited(env)] == [
        "subscription.create", "subscription.update", "subscription.update",
        "subscription.replay", "subscription.delete", "subscription.create",
        "subscription.delete",
    ]  # fmt: skip
    assert {(kind, actor) for _action, kind, actor in audited(env)} == {("system", "cli")}
