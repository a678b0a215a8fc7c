"""An erasure takes the mail kept about the customer's privacy requests with it: the outbox's
files (address and code) go once the erasure has committed, whichever way the customer was
erased (the portal, staff filing the request, retention), and only that customer's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import (
    REQUESTS,
    SAMPLE_FIELDS,
    bearer,
    code_in,
    messages,
    outbox,
    verified_privacy_request,
)
from vault.auth.service import create_api_client
from vault.cli import main
from vault.clock import FixedClock
from vault.db import db


def customer(client: FlaskClient, sales: dict[str, str], address: str) -> str:
    body = {"fields": {**SAMPLE_FIELDS, "email": address}, "region": "EU"}
    response = client.post("/api/v1/customers", json=body, headers=sales)
    assert response.status_code == 201, response.get_json()
    customer_id: str = response.get_json()["id"]
    return customer_id


def ask(client: FlaskClient, address: str, kind: str) -> str:
    response = client.post(REQUESTS, json={"email": address, "type": kind})
    assert response.status_code == 202
    request_id: str = response.get_json()["id"]
    return request_id


def files(app: Flask) -> list[Path]:
    folder = outbox(app)
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def addressed_to(app: Flask) -> list[str]:
    return [str(m["To"]) for m in messages(app)]


def test_the_outbox_names_each_message_by_its_request_never_by_the_address(
    app: Flask, client: FlaskClient, sales: dict[str, str]
) -> None:
    customer(client, sales, "named@example.org")
    request_id = ask(client, "named@example.org", "export")
    (path,) = files(app)
    assert f"-{request_id}-" in path.name
    assert "named" not in path.name


def test_a_portal_erasure_deletes_the_mail_about_the_customers_requests(
    app: Flask, client: FlaskClient, sales: dict[str, str]
) -> None:
    customer(client, sales, "leaving@example.org")
    customer(client, sales, "staying@example.org")
    export = ask(client, "leaving@example.org", "export")
    ask(client, "staying@example.org", "export")
    erasure = ask(client, "leaving@example.org", "erasure")
    assert sorted(addressed_to(app)) == ["leaving@example.org"] * 2 + ["staying@example.org"]
    code = code_in(messages(app)[-1])
    # a wrong code erases nothing, and the mail stays
    assert client.post(f"{REQUESTS}/{erasure}/verify", json={"code": "00000000"}).status_code \
        == 422  # fmt: skip
    assert len(files(app)) == 3
    done = client.post(f"{REQUESTS}/{erasure}/verify", json={"code": code})
    assert done.get_json()["status"] == "completed"
    assert addressed_to(app) == ["staying@example.org"]
    assert not any(export in p.name or erasure in p.name for p in files(app))


def test_under_a_legal_hold_the_mail_stays_with_the_customer(
    app: Flask, client: FlaskClient, sales: dict[str, str], officer: dict[str, str]
) -> None:
    customer_id = customer(client, sales, "held@example.org")
    hold = {"customer_id": customer_id, "reason": "litigation 2291"}
    assert client.post("/api/v1/legal-holds", json=hold, headers=officer).status_code == 201
    done = verified_privacy_request(client, "held@example.org", "erasure")
    assert (done.get_json()["status"], done.get_json()["reason"]) == ("rejected", "legal_hold")
    assert addressed_to(app) == ["held@example.org"]


def test_an_erasure_filed_by_staff_deletes_the_mail_too(
    app: Flask, client: FlaskClient, sales: dict[str, str], officer: dict[str, str]
) -> None:
    customer_id = customer(client, sales, "caller@example.org")
    filed = {"customer_id": customer_id, "channel": "phone",
             "identity_check": "callback_to_number_on_file"}  # fmt: skip
    export = client.post("/api/v1/privacy-requests", json={**filed, "type": "export"},
                         headers=officer)  # fmt: skip
    assert export.status_code == 201
    assert addressed_to(app) == ["caller@example.org"]  # the export's link
    erased = client.post("/api/v1/privacy-requests", json={**filed, "type": "erasure"},
                         headers=officer)  # fmt: skip
    assert erased.get_json()["status"] == "completed"
    assert files(app) == []


@pytest.mark.parametrize("action", ["anonymise", "erase_customer"])
def test_retention_deletes_the_mail_of_the_customers_it_erases(
    app: Flask, client: FlaskClient, sales: dict[str, str], make_token: Callable[..., str],
    clock: FixedClock, action: str,
) -> None:  # fmt: skip
    admin = bearer(make_token(role="admin", name="ops"))
    leaving = customer(client, sales, "former@example.org")
    customer(client, sales, "current@example.org")
    ask(client, "former@example.org", "export")
    ask(client, "current@example.org", "export")
    ended = {"relationship_ended_at": clock.now().isoformat()}
    assert client.patch(f"/api/v1/customers/{leaving}", json=ended,
                        headers=sales).status_code == 200  # fmt: skip
    rules = client.get("/api/v1/retention/rules", headers=admin).get_json()["items"]
    for rule in rules:
        client.patch(f"/api/v1/retention/rules/{rule['id']}", json={"enabled": False},
                     headers=admin)  # fmt: skip
    rule = {"trigger": "relationship_ended", "period_days": 10, "action": action}
    assert client.post("/api/v1/retention/rules", json=rule, headers=admin).status_code == 201
    clock.advance(days=11)
    dry = client.post("/api/v1/retention/run", json={"dry_run": True}, headers=admin)
    assert dry.get_json()["erased"] == 1
    assert len(files(app)) == 2  # a dry run deletes nothing
    run = client.post("/api/v1/retention/run", json={"dry_run": False}, headers=admin)
    assert run.get_json()["erased"] == 1
    assert addressed_to(app) == ["current@example.org"]


def test_the_sweep_of_the_command_line_deletes_the_mail_too(
    make_app: Callable[..., Flask], clock: FixedClock
) -> None:
    vault = make_app()  # its own database: the command commits for real
    client = vault.test_client()
    with vault.app_context(), db.transaction() as session:
        token, admin_token = (
            create_api_client(
                session, name=role, role=role, purposes=[], expires_days=None, regions=[],
                now=clock.now(),
            )[1]
            for role in ("sales", "admin")
        )  # fmt: skip
    sales = bearer(token, **{"X-Purpose": "sales"})
    leaving = customer(client, sales, "former@example.org")
    ask(client, "former@example.org", "export")
    ended = {"relationship_ended_at": clock.now().isoformat()}
    assert client.patch(f"/api/v1/customers/{leaving}", json=ended,
                        headers=sales).status_code == 200  # fmt: skip
    rule = {"trigger": "relationship_ended", "period_days": 1, "action": "anonymise"}
    added = client.post("/api/v1/retention/rules", json=rule, headers=bearer(admin_token))
    assert added.status_code == 201
    assert len(files(vault)) == 1
    settings = vault.config["VAULT_SETTINGS"]
    env = {"VAULT_DATABASE_URL": settings.database_url,
           "VAULT_INSTANCE_PATH": str(settings.instance_path)}  # fmt: skip
    # the command runs on the system clock, long after the fixed clock's day
    run = CliRunner(env=env).invoke(main, ["retention", "run"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert files(vault) == []
