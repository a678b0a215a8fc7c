"""Admins manage staff users through /api/v1/users: the directory with open sessions, new
users, and disabling, which ends every session of the user on its next request in every
worker. Each change is audited without a password or an e-mail address."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, Staff, bearer, events, log_in, non_admin_statuses, refused
from vault.auth.models import StaffSession
from vault.auth.service import create_api_client, create_user
from vault.clock import FixedClock
from vault.db import db

EMAIL = "sam@example.com"


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token(role="admin", name="ops"))


def test_admins_list_users_with_their_state_and_open_sessions(
    app: Flask, client: FlaskClient, admin: dict[str, str], make_user: Callable[..., str]
) -> None:
    sam = make_user(EMAIL, roles=("sales",))
    other = make_user("kim@example.com", roles=("support", "staff"))
    Staff(app, EMAIL)
    Staff(app, EMAIL)
    response = client.get("/api/v1/users", headers=admin)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    items = {u["id"]: u for u in response.get_json()["items"]}
    assert items[sam]["email"] == EMAIL
    assert items[sam]["roles"] == ["sales"]
    assert items[sam]["active"] is True
    assert items[sam]["open_sessions"] == 2
    assert items[sam]["last_login_at"] is not None
    assert items[other]["roles"] == ["staff", "support"]
    assert (items[other]["open_sessions"], items[other]["last_login_at"]) == (0, None)
    assert all("password" not in key for u in items.values() for key in u)

    first = client.get("/api/v1/users?limit=1", headers=admin).get_json()
    second = client.get(f"/api/v1/users?limit=1&cursor={first['next_cursor']}", headers=admin)
    assert [u["id"] for u in first["items"] + second.get_json()["items"]] == sorted(items)
    assert second.get_json()["next_cursor"] is None
    assert len(events(app, "user.read")) == 3


def test_admins_create_users_who_then_log_in(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    body = {"email": EMAIL, "password": PASSWORD, "roles": ["support"]}
    created = client.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    assert (user["email"], user["roles"], user["active"]) == (EMAIL, ["support"], True)
    assert "password" not in created.get_data(as_text=True)
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 409
    short = client.post("/api/v1/users", json={**body, "email": "b@example.com",
                                                "password": "short"}, headers=admin)  # fmt: skip
    assert short.status_code == 422
    assert "short" not in short.get_data(as_text=True)
    assert log_in(app.test_client(), EMAIL).status_code == 302
    (event,) = events(app, "user.create")
    assert (event.reason, event.outcome, event.actor_kind) == (user["id"], "allowed", "client")
    for text in (event.reason, event.actor_id, event.customer_ids, event.field_names):
        assert EMAIL not in text
        assert PASSWORD not in text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/users", None),
        ("post", "/api/v1/users", {"email": EMAIL, "password": PASSWORD, "roles": ["admin"]}),
        ("post", "/api/v1/users/{id}/disable", None),
        ("post", "/api/v1/users/{id}/enable", None),
    ],
)
def test_only_admins_manage_users(
    app: Flask,
    make_token: Callable[..., str],
    make_user: Callable[..., str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    target = make_user("kim@example.com", roles=("support",))
    assert non_admin_statuses(app, make_token, method, path.format(id=target), body) == [403] * 5
    assert events(app, "user.create") == events(app, "user.disable") == []
    assert not refused(Staff(app, "kim@example.com").client)


def test_the_last_active_admin_cannot_be_disabled(
    app: Flask, client: FlaskClient, admin: dict[str, str], make_user: Callable[..., str]
) -> None:
    first = make_user("first.admin@example.com", roles=("admin",))
    response = client.post(f"/api/v1/users/{first}/disable", headers=admin)
    assert response.status_code == 409
    assert response.get_json()["code"] == "last_admin"
    second = make_user("second.admin@example.com", roles=("admin",))
    assert client.post(f"/api/v1/users/{first}/disable", headers=admin).status_code == 200
    assert client.post(f"/api/v1/users/{second}/disable", headers=admin).status_code == 409
    assert client.post("/api/v1/users/usr_unknown/disable", headers=admin).status_code == 404


def test_a_disabled_user_is_refused_on_the_next_request_in_every_worker(
    two_workers: tuple[Flask, Flask], clock: FixedClock
) -> None:
    one, two = two_workers
    with one.app_context(), db.transaction() as session:
        user_id = create_user(session, email=EMAIL, password=PASSWORD, roles=["sales"]).id
        _client, token = create_api_client(session, name="ops", role="admin", now=clock.now())
    here, there = one.test_client(), two.test_client()
    assert log_in(here, EMAIL).status_code == 302
    assert log_in(there, EMAIL).status_code == 302
    assert not refused(here)
    assert not refused(there)

    disabled = one.test_client().post(f"/api/v1/users/{user_id}/disable", headers=bearer(token))
    assert disabled.status_code == 200
    assert (disabled.get_json()["active"], disabled.get_json()["open_sessions"]) == (False, 0)
    assert refused(here)
    assert refused(there)
    assert log_in(two.test_client(), EMAIL).status_code == 401
    (event,) = events(one, "user.disable")
    assert (event.reason, event.actor_id) == (user_id, "cli_" + token.split("_")[1])
    with one.app_context():
        reasons = db.session.scalars(sa.select(StaffSession.ended_reason)).all()
    assert reasons == ["user_disabled", "user_disabled"]

    enabled = two.test_client().post(f"/api/v1/users/{user_id}/enable", headers=bearer(token))
    assert enabled.get_json()["active"] is True
    assert len(events(one, "user.enable")) == 1
    assert refused(here)  # an ended session stays ended
    again = two.test_client()
    assert log_in(again, EMAIL).status_code == 302
    assert not refused(again)
