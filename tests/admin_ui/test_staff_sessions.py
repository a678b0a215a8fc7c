"""Staff sessions kept server-side: log-out, idle and absolute expiry end a session for good,
whatever copy of the cookie is replayed and whichever app instance receives it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, csrf_token, log_in, refused
from vault.audit.models import AuditEvent
from vault.auth.models import StaffSession
from vault.auth.service import create_user
from vault.bootstrap import prepare_database
from vault.clock import FixedClock
from vault.db import db

EMAIL = "admin@example.com"
COOKIE = "vault_session"


@pytest.fixture
def admin(make_user: Callable[..., str]) -> str:
    return make_user(EMAIL, roles=("admin",))


def cookie(client: FlaskClient) -> str:
    found = client.get_cookie(COOKIE)
    assert found is not None
    return found.value


def log_out(client: FlaskClient) -> None:
    response = client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302


def sessions_of(app: Flask, user_id: str) -> list[StaffSession]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(StaffSession)
                .where(StaffSession.user_id == user_id)
                .order_by(StaffSession.created_at)
            )
        )


def test_a_cookie_replayed_after_log_out_is_refused(
    app: Flask, client: FlaskClient, admin: str
) -> None:
    assert log_in(client).status_code == 302
    assert not refused(client)
    copied = cookie(client)
    log_out(client)
    client.set_cookie(COOKIE, copied)
    assert refused(client)
    (ended,) = sessions_of(app, admin)
    assert ended.ended_reason == "logout"
    assert ended.ended_at is not None
    with app.app_context():
        actors = db.session.scalars(
            sa.select(AuditEvent.actor_id).where(AuditEvent.action == "auth.logout")
        ).all()
    assert actors == [admin]


def test_only_a_hash_of_the_session_token_is_kept(
    app: Flask, client: FlaskClient, admin: str
) -> None:
    log_in(client)
    interface = app.session_interface
    assert isinstance(interface, SecureCookieSessionInterface)
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    data = serializer.loads(cookie(client))
    token = data["_vault_session"]
    assert len(token) >= 43  # 256 random bits
    (row,) = sessions_of(app, admin)
    assert row.id == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.id


def test_every_log_in_starts_a_new_session(
    app: Flask, client: FlaskClient, admin: str, clock: FixedClock
) -> None:
    log_in(client)
    first = cookie(client)
    log_out(client)
    clock.advance(seconds=1)
    log_in(client)
    assert cookie(client) != first
    old, new = sessions_of(app, admin)
    assert old.id != new.id
    assert old.ended_reason == "logout"
    assert new.ended_at is None
    client.set_cookie(COOKIE, first)
    assert refused(client)


def test_an_idle_session_ends(client: FlaskClient, admin: str, clock: FixedClock) -> None:
    log_in(client)
    for _ in range(3):  # a session in use stays open past the idle timeout
        clock.advance(minutes=29)
        assert not refused(client)
    clock.advance(minutes=30, seconds=1)
    assert refused(client)
    # it stays ended when used again
    clock.advance(seconds=1)
    assert refused(client)


def test_a_session_ends_after_its_absolute_lifetime(
    client: FlaskClient, admin: str, clock: FixedClock
) -> None:
    log_in(client)
    for _ in range(28):  # in use every 25 minutes: 11 h 40 min
        clock.advance(minutes=25)
        assert not refused(client)
    clock.advance(minutes=20, seconds=1)  # 12 h and a second after the log-in
    assert refused(client)


def test_last_seen_is_recorded_at_most_once_a_minute(
    app: Flask, client: FlaskClient, admin: str, clock: FixedClock
) -> None:
    log_in(client)
    (row,) = sessions_of(app, admin)
    logged_in = row.last_seen_at
    clock.advance(seconds=30)
    assert client.get("/api/v1/me").status_code == 200
    assert sessions_of(app, admin)[0].last_seen_at == logged_in
    clock.advance(seconds=31)
    assert client.get("/api/v1/me").status_code == 200
    assert sessions_of(app, admin)[0].last_seen_at == clock.now()


def test_the_session_lifetimes_are_settings(
    make_app: Callable[..., Flask], clock: FixedClock
) -> None:
    app = make_app(session_idle_minutes=5, session_max_hours=1)
    with app.app_context(), db.transaction() as session:
        create_user(session, email=EMAIL, password=PASSWORD, roles=["admin"])
    idle, busy = app.test_client(), app.test_client()
    log_in(idle)
    log_in(busy)
    clock.advance(minutes=4)
    assert not refused(busy)
    clock.advance(minutes=1, seconds=1)
    assert refused(idle)
    for _ in range(14):  # busy every 4 minutes, until 61 minutes after the log-in
        assert not refused(busy)
        clock.advance(minutes=4)
    assert refused(busy)


def test_a_restarted_app_refuses_an_ended_session(
    make_app: Callable[..., Flask], fresh_database_url: str, tmp_path: Path
) -> None:
    prepare_database(fresh_database_url)
    before = make_app(fresh_database_url)
    with before.app_context(), db.transaction() as session:
        create_user(session, email=EMAIL, password=PASSWORD, roles=["admin"])
    ended, kept = before.test_client(), before.test_client()
    log_in(ended)
    log_in(kept)
    copied = cookie(ended)
    log_out(ended)

    after = make_app(fresh_database_url)  # a new process over the same database
    replayed, resumed = after.test_client(), after.test_client()
    replayed.set_cookie(COOKIE, copied)
    resumed.set_cookie(COOKIE, cookie(kept))
    assert refused(replayed)
    assert not refused(resumed)


def test_no_answer_sets_a_remember_cookie_and_every_one_varies_by_cookie(
    client: FlaskClient, admin: str
) -> None:
    """flask-login's remember-me cookie: the vault never sets one, nor touches a stale one
    a browser sends; every answer, with a session or without, varies by Cookie."""
    client.set_cookie("remember_token", "stale")
    answers = [client.get("/healthz"), client.get("/api/v1/me"), log_in(client)]
    answers += [client.get("/admin/"), client.get("/api/v1/me")]
    answers.append(client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")}))
    for answer in answers:
        assert "Cookie" in answer.headers["Vary"], answer.request.path
        cookies = answer.headers.getlist("Set-Cookie")
        assert not [c for c in cookies if c.startswith("remember_token=")], answer.request.path
    assert "Set-Cookie" not in answers[0].headers
    assert "Set-Cookie" not in answers[1].headers
