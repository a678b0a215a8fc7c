"""A database that is down, or does not answer, is a 503 with Retry-After on every route (never
a 500 or a hang), logged once per outage rather than once per request; the PostgreSQL timeouts
come from the settings; /readyz answers within its own deadline."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.helpers import app_settings, assert_problem, bearer, csrf_token
from tests.support import probe
from tests.support.ports import free_port as closed_port  # freed, so closed
from vault.app import create_app
from vault.config import load_settings
from vault.db_timeouts import PostgresTimeouts
from vault.errors import ConfigurationError
from vault.logs import configure_logging
from vault.outages import OutageLog, database_outage

SECRET_IN_ERROR = "password=hunter2 host=db.internal"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never answers, as a
    frozen database server does."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def vault_on(
    port: int, tmp_path: Path, log_stream: io.StringIO | None = None, **extra: Any
) -> Flask:
    url = f"postgresql://vault@127.0.0.1:{port}/vault"
    app = create_app(app_settings(url, tmp_path / "instance", **extra))
    app.config["PROPAGATE_EXCEPTIONS"] = True  # a 500 would surface as the error itself
    if log_stream is not None:  # create_app set the logging up afresh
        configure_logging("json", "INFO", stream=log_stream)
    return app


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def assert_unavailable(response: Any, retry_after: str = "5") -> dict[str, Any]:
    body = assert_problem(response, 503, "database_unavailable")
    assert response.headers["Retry-After"] == retry_after
    assert body["title"] == "Service Unavailable"
    return body


def test_a_database_that_refuses_connections_is_a_503_with_retry_after(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    port = closed_port()
    app = vault_on(port, tmp_path, log_stream, database_retry_after_seconds=7)
    headers = bearer("not-a-real-token", **{"X-Purpose": "sales"})
    client = app.test_client()
    for _ in range(3):
        response = client.post(
            "/api/v1/customers", json={"fields": {"given_name": "Ada"}}, headers=headers
        )
        body = assert_unavailable(response, retry_after="7")
        assert str(port) not in body["detail"]
        assert "postgres" not in json.dumps(body).lower()
    assert_unavailable(client.get("/api/v1/customers", headers=headers), retry_after="7")
    lines = log_lines(log_stream)
    started = [line for line in lines if line["event"] == "database.unavailable"]
    assert len(started) == 1  # one line for the outage, not one per request
    assert started[0]["error_class"].startswith("OperationalError")
    text = log_stream.getvalue()
    assert "request.crashed" not in text
    assert "Traceback" not in text
    assert "stack" not in text
    assert str(port) not in text


def test_readyz_is_a_503_with_retry_after_when_the_database_is_down(tmp_path: Path) -> None:
    app = vault_on(closed_port(), tmp_path)
    assert_unavailable(app.test_client().get("/readyz"))


def test_readyz_answers_within_its_deadline_when_the_database_does_not(
    tmp_path: Path, silent_server: int
) -> None:
    app = vault_on(silent_server, tmp_path, readiness_timeout_ms=300)
    client = app.test_client()
    for _ in range(3):  # the probes share the one still waiting: no pile of threads
        started = time.monotonic()
        assert_unavailable(client.get("/readyz"))
        assert time.monotonic() - started < 1.0
    assert sum(t.name == "vault-readiness" for t in threading.enumerate()) <= 1


def test_a_request_waits_no_longer_than_the_connect_timeout(
    tmp_path: Path, silent_server: int
) -> None:
    app = vault_on(silent_server, tmp_path, database_connect_timeout_seconds=2)
    started = time.monotonic()
    response = app.test_client().get(
        "/api/v1/customers", headers=bearer("not-a-real-token", **{"X-Purpose": "sales"})
    )
    assert_unavailable(response)
    assert time.monotonic() - started < 3.5


def test_an_admin_page_is_a_plain_503_page(tmp_path: Path) -> None:
    app = vault_on(closed_port(), tmp_path)
    client = app.test_client()
    response = client.post(  # a log-in looks the user up
        "/admin/login",
        data={"email": "a@example.com", "password": "x" * 12, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    # the log-in's rate limit (flask-limiter) may name a later retry than the outage's 5 s
    assert int(response.headers["Retry-After"]) >= 5
    page = response.get_data(as_text=True)
    assert "Service Unavailable" in page
    assert "OperationalError" not in page


def test_a_commit_that_fails_after_the_view_is_a_503(
    app: Flask, token: str, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> None:
    probe.install(app)

    def lost(_session: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception(SECRET_IN_ERROR))

    monkeypatch.setattr(Session, "commit", lost)
    response = app.test_client().post(
        "/api/v1/probe/items", json={"name": "ok", "count": 1}, headers=bearer(token)
    )
    assert_unavailable(response)
    assert "hunter2" not in response.get_data(as_text=True)
    assert "hunter2" not in log_stream.getvalue()
    assert "Traceback" not in log_stream.getvalue()


def test_an_error_caused_by_an_outage_is_one() -> None:
    outage = OperationalError("SELECT 1", {}, Exception("down"))
    wrapped = RuntimeError("while handling it")
    wrapped.__cause__ = outage
    assert database_outage(wrapped) is outage
    assert database_outage(ValueError("no")) is None


@pytest.fixture
def token(make_token: Any) -> str:
    return str(make_token(role="sales"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_logged_when_it_starts_while_it_lasts_and_when_it_ends(
    log_stream: io.StringIO,
) -> None:
    clock = FakeClock()
    outages = OutageLog(report_seconds=30, clock=clock)
    error = OperationalError("INSERT ...", {}, Exception(SECRET_IN_ERROR))
    outages.answered()  # no outage: nothing to say
    for _ in range(5):  # the fourth, 30 s in: a line with the count so far
        outages.refused(error)
        clock.now += 10
    outages.answered()
    outages.answered()
    events = [(line["event"], line.get("refused")) for line in log_lines(log_stream)]
    assert events == [
        ("database.unavailable", None),
        ("database.still_unavailable", 4),
        ("database.available", 5),
    ]
    assert "hunter2" not in log_stream.getvalue()
    outages.refused(error)  # a new outage starts a new count
    outages.answered()
    assert log_lines(log_stream)[-1]["refused"] == 1


def test_the_outage_count_is_thread_safe(log_stream: io.StringIO) -> None:
    outages = OutageLog(report_seconds=3600)
    error = OperationalError("SELECT 1", {}, Exception("down"))

    def refuse_many() -> None:
        for _ in range(500):
            outages.refused(error)

    threads = [threading.Thread(target=refuse_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outages.answered()
    lines = log_lines(log_stream)
    assert [line["event"] for line in lines] == ["database.unavailable", "database.available"]
    assert lines[-1]["refused"] == 4000


def test_the_postgresql_timeouts_come_from_the_settings() -> None:
    settings = load_settings(
        environ={
            "VAULT_DATABASE_STATEMENT_TIMEOUT_MS": "4000",
            "VAULT_DATABASE_CONNECT_TIMEOUT_SECONDS": "3",
            "VAULT_DATABASE_KEEPALIVES_IDLE_SECONDS": "20",
        }
    )
    timeouts = PostgresTimeouts.from_settings(settings)
    assert timeouts.connect_args() == {
        "connect_timeout": 3,
        "keepalives": 1,
        "keepalives_idle": 20,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "options": "-c statement_timeout=4000 -c idle_in_transaction_session_timeout=30000",
    }
    assert timeouts.engine_args()["pool_timeout"] == 5
    assert timeouts.pool_pre_ping is True
    # pinged by vault.db_timeouts.bound_waits after idling, not by the pool on every checkout
    assert timeouts.engine_args()["pool_pre_ping"] is False
    assert timeouts.statement_wait_seconds == 4.5
    assert timeouts.ping_wait_seconds == 3.0
    assert "idle_in_transaction" not in timeouts.for_streaming().connect_args()["options"]
    # commands (migrations, verification) are bounded in connecting only
    assert "options" not in PostgresTimeouts().connect_args()
    assert PostgresTimeouts().statement_wait_seconds is None


def test_a_negative_timeout_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="VAULT_DATABASE_STATEMENT_TIMEOUT_MS"):
        load_settings(environ={"VAULT_DATABASE_STATEMENT_TIMEOUT_MS": "-1"})
    with pytest.raises(ConfigurationError, match="VAULT_DATABASE_RETRY_AFTER_SECONDS"):
        load_settings(environ={"VAULT_DATABASE_RETRY_AFTER_SECONDS": "0"})


@pytest.mark.parametrize("cause", ["outage", "none"])
def test_a_vault_error_caused_by_an_outage_is_a_503(
    app: Flask, cause: str, log_stream: io.StringIO
) -> None:
    """The audit trail cannot be written because the database went away: that is the
    outage's 503, not the audit's 500 (which stays for an audit failure of its own)."""
    from vault.audit.service import AuditWriteFailed

    @app.get("/_audit_lost")
    def audit_lost() -> str:
        if cause == "outage":
            lost = OperationalError("INSERT", {}, Exception(SECRET_IN_ERROR))
            raise AuditWriteFailed("the audit trail cannot be written") from lost
        raise AuditWriteFailed("the audit key is not available")

    response = app.test_client().get("/_audit_lost")
    if cause == "outage":
        assert_unavailable(response)
    else:
        assert_problem(response, 500, "audit_unavailable")
    assert "hunter2" not in response.get_data(as_text=True) + log_stream.getvalue()
