"""Admins manage API clients through /api/v1/clients: the list keeps revoked clients, a new
client's token is in its 201 answer only, and a revoked token is refused on its next request
by every app over the same database. Each change is audited, never with a token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import bearer, events, non_admin_statuses
from vault.audit.models import AuditEvent
from vault.auth.service import create_api_client
from vault.clock import FixedClock
from vault.db import db

NEW = {"name": "crm-eu", "role": "sales", "purposes": ["sales"], "regions": ["EU"],
       "expires_days": 30}  # fmt: skip


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token(role="admin", name="ops"))


def test_a_new_clients_token_is_shown_once(
    app: Flask, client: FlaskClient, admin: dict[str, str], clock: FixedClock
) -> None:
    created = client.post("/api/v1/clients", json=NEW, headers=admin)
    assert created.status_code == 201, created.get_json()
    assert created.headers["Cache-Control"] == "no-store"
    body = created.get_json()
    token = body.pop("token")
    assert body["id"] == "cli_" + token.split("_")[1]
    assert (body["name"], body["role"], body["purposes"], body["regions"]) == (
        "crm-eu", "sales", ["sales"], ["EU"],
    )  # fmt: skip
    assert body["expires_at"].startswith("2026-01-31T12:00:00")
    assert (body["last_used_at"], body["revoked_at"]) == (None, None)

    me = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert (me["name"], me["purposes"]) == ("crm-eu", ["sales"])
    listed = client.get("/api/v1/clients", headers=admin)
    assert listed.status_code == 200
    assert token.split("_", 2)[2] not in listed.get_data(as_text=True)
    items = {c["name"]: c for c in listed.get_json()["items"]}
    assert set(items) == {"ops", "crm-eu"}
    assert items["crm-eu"]["last_used_at"].startswith("2026-01-01T12:00:00")
    assert all(set(c) == set(body) for c in items.values())
    assert client.post("/api/v1/clients", json=NEW, headers=admin).status_code == 409
    assert client.post("/api/v1/clients", json={**NEW, "name": "x", "purposes": ["marketing"]},
                       headers=admin).status_code == 422  # fmt: skip

    (event,) = events(app, "client.create")
    assert (event.reason, event.outcome) == (body["id"], "allowed")
    with app.app_context():
        texts = db.session.execute(
            sa.select(AuditEvent.reason, AuditEvent.actor_id, AuditEvent.field_names)
        ).all()
    assert all(token.split("_", 2)[2] not in text for row in texts for text in row)


def test_a_revoked_client_stays_listed_and_its_token_is_refused(
    app: Flask, client: FlaskClient, admin: dict[str, str], clock: FixedClock
) -> None:
    created = client.post("/api/v1/clients", json=NEW, headers=admin).get_json()
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    clock.advance(hours=1)
    revoked = client.post(f"/api/v1/clients/{created['id']}/revoke", headers=admin)
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"].startswith("2026-01-01T13:00:00")
    assert "token" not in revoked.get_json()
    refused = client.get("/api/v1/me", headers=bearer(created["token"]))
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "invalid_token"
    items = {c["name"]: c for c in client.get("/api/v1/clients", headers=admin).get_json()["items"]}
    assert items["crm-eu"]["revoked_at"] == revoked.get_json()["revoked_at"]
    clock.advance(hours=1)  # revoking again keeps the first time
    again = client.post(f"/api/v1/clients/{created['id']}/revoke", headers=admin).get_json()
    assert again["revoked_at"] == revoked.get_json()["revoked_at"]
    assert [e.reason for e in events(app, "client.revoke")] == [created["id"]] * 2
    assert client.post("/api/v1/clients/cli_unknown/revoke", headers=admin).status_code == 404


def test_clients_are_listed_a_page_at_a_time(
    client: FlaskClient, admin: dict[str, str], make_token: Callable[..., str]
) -> None:
    for name in ("b-crm", "a-crm", "c-crm"):
        make_token(name=name)
    first = client.get("/api/v1/clients?limit=2", headers=admin).get_json()
    rest = client.get(f"/api/v1/clients?cursor={first['next_cursor']}", headers=admin).get_json()
    names = [c["name"] for c in first["items"] + rest["items"]]
    assert names == ["a-crm", "b-crm", "c-crm", "ops"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/clients", None),
        ("post", "/api/v1/clients", {**NEW, "role": "admin", "purposes": []}),
        ("post", "/api/v1/clients/{id}/revoke", None),
    ],
)
def test_only_admins_manage_clients(
    app: Flask,
    make_token: Callable[..., str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    target = make_token(name="crm-us")
    url = path.format(id="cli_" + target.split("_")[1])
    assert non_admin_statuses(app, make_token, method, url, body) == [403] * 5
    assert app.test_client().get("/api/v1/me", headers=bearer(target)).status_code == 200
    assert events(app, "client.create") == events(app, "client.revoke") == []


def test_a_revoked_token_is_refused_by_every_app_over_the_database(
    two_workers: tuple[Flask, Flask], clock: FixedClock
) -> None:
    one, two = two_workers
    with one.app_context(), db.transaction() as session:
        _ops, ops = create_api_client(session, name="ops", role="admin", now=clock.now())
    created = one.test_client().post("/api/v1/clients", json=NEW, headers=bearer(ops))
    token = created.get_json()["token"]
    there = two.test_client()
    assert there.get("/api/v1/me", headers=bearer(token)).status_code == 200
    revoked = one.test_client().post(
        f"/api/v1/clients/{created.get_json()['id']}/revoke", headers=bearer(ops)
    )
    assert revoked.status_code == 200
    assert there.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert there.get("/api/v1/me", headers=bearer(ops)).status_code == 200
