"""The admin UI log-in: CSRF, lock-out, rate limit, session cookie flags, and the session
cookie as an API credential."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import ADMIN_EMAIL, PASSWORD, csrf_token, log_in
from vault.audit.models import AuditEvent
from vault.clock import FixedClock
from vault.db import db


@pytest.fixture
def admin(make_user: Callable[..., str]) -> str:
    return make_user(ADMIN_EMAIL, roles=("admin",))


def test_the_login_page_has_a_csrf_token(client: FlaskClient) -> None:
    response = client.get("/admin/login")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert csrf_token(client)


def test_a_post_without_csrf_token_is_refused(client: FlaskClient, admin: str) -> None:
    response = client.post("/admin/login", data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_a_correct_login_reaches_the_dashboard(client: FlaskClient, admin: str) -> None:
    response = log_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert ADMIN_EMAIL in page.get_data(as_text=True)


def test_the_dashboard_needs_a_login(client: FlaskClient) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


def test_next_never_leaves_the_site(client: FlaskClient, admin: str) -> None:
    token = csrf_token(client)
    response = client.post(
        "/admin/login?next=//evil.example/x",
        data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/admin/"


def test_session_cookie_flags(client: FlaskClient, admin: str) -> None:
    response = log_in(client)
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("vault_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_wrong_password_is_refused_without_saying_why(client: FlaskClient, admin: str) -> None:
    response = log_in(client, password="wrong password here")
    assert response.status_code == 401
    assert "invalid email or password" in response.get_data(as_text=True)
    unknown = log_in(client, email="nobody@example.com")
    assert unknown.status_code == 401
    assert "invalid email or password" in unknown.get_data(as_text=True)


def test_repeated_failures_lock_the_account(
    client: FlaskClient, admin: str, clock: FixedClock
) -> None:
    for _ in range(5):
        assert log_in(client, password="wrong password here").status_code == 401
    # Locked: even the right password is refused, with the same message.
    locked = log_in(client)
    assert locked.status_code == 401
    assert "invalid email or password" in locked.get_data(as_text=True)
    clock.advance(minutes=15, seconds=1)
    assert log_in(client).status_code == 302


def test_a_success_resets_the_failure_count(client: FlaskClient, admin: str) -> None:
    for _ in range(4):
        log_in(client, password="wrong password here")
    assert log_in(client).status_code == 302
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    for _ in range(4):
        log_in(client, password="wrong password here")
    assert log_in(client).status_code == 302


def test_login_attempts_are_rate_limited(make_app: Callable[..., Flask]) -> None:
    client = make_app(login_rate_limit="3 per minute").test_client()
    statuses = [log_in(client, email="x@example.com").status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429
    # GET stays available so a person can read the page.
    assert client.get("/admin/login").status_code == 200


def test_logout_needs_csrf_and_ends_the_session(client: FlaskClient, admin: str) -> None:
    log_in(client)
    client.post("/admin/logout", data={})
    assert client.get("/admin/").status_code == 200
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert client.get("/admin/").status_code == 302


def test_the_session_cookie_authenticates_the_api(client: FlaskClient, admin: str) -> None:
    log_in(client)
    body = client.get("/api/v1/me").get_json()
    assert body["kind"] == "user"
    assert body["roles"] == ["admin"]


def test_a_cookie_authenticated_api_write_needs_the_csrf_header(
    app: Flask, client: FlaskClient, admin: str
) -> None:
    from tests.support import probe

    probe.install(app)
    log_in(client)
    response = client.post("/api/v1/probe/items", json={"name": "a", "count": 1})
    assert response.status_code == 403
    assert response.get_json()["code"] == "csrf_failed"
    # the refusal is recorded under the user who was refused, not as anonymous
    with app.app_context():
        (event,) = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.reason == "csrf_failed")
        )
    assert (event.actor_kind, event.actor_id, event.outcome) == ("user", admin, "denied")
    token = csrf_token(client, "/admin/")
    ok = client.post(
        "/api/v1/probe/items", json={"name": "a", "count": 1}, headers={"X-CSRFToken": token}
    )
    assert ok.status_code == 201


def test_an_inactive_user_cannot_log_in(app: Flask, client: FlaskClient, admin: str) -> None:
    from vault.auth.models import User

    with app.app_context(), db.transaction() as session:
        user = session.get(User, admin)
        assert user is not None
        user.active = False
    assert log_in(client).status_code == 401
