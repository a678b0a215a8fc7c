"""The audit event of a request that commits for real (not inside a test's outer
transaction): it commits with the request's work, on PostgreSQL sent with the COMMIT in one
round trip; and when the database refuses it there, the answer carries no data and the
request's work is not committed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS
from tests.support import heard
from vault.audit.models import AuditEvent
from vault.auth.service import create_api_client
from vault.db import db


@pytest.fixture
def vault(make_app: Callable[..., Flask]) -> Flask:
    vault = make_app()
    vault.config["PROPAGATE_EXCEPTIONS"] = False
    return vault


@pytest.fixture
def sales(vault: Flask) -> dict[str, str]:
    with vault.app_context(), db.transaction() as session:
        _, token = create_api_client(session, name="crm", role="sales", purposes=["sales"],
                                     expires_days=None, regions=[],
                                     now=dt.datetime.now(dt.UTC))  # fmt: skip
    return {"Authorization": f"Bearer {token}", "X-Purpose": "sales"}


@pytest.fixture
def customer(vault: Flask, sales: dict[str, str]) -> str:
    response = vault.test_client().post(
        "/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"}, headers=sales
    )
    assert response.status_code == 201, response.get_json()
    customer_id: str = response.get_json()["id"]
    return customer_id


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries psycopg sends bound on the client (the deferred writes' road)."""
    return heard.client_queries(monkeypatch)


def reads_of(vault: Flask, customer_id: str) -> int:
    with vault.app_context():
        query = sa.select(sa.func.count()).where(
            AuditEvent.action == "customer.read", AuditEvent.customer_ids == customer_id
        )
        return db.session.scalar(query) or 0


def test_a_read_commits_its_event_and_on_postgresql_with_the_commit_after_stamps_read_with_begin(
    vault: Flask, sales: dict[str, str], customer: str, sent: list[str]
) -> None:
    client: FlaskClient = vault.test_client()
    assert client.get(f"/api/v1/customers/{customer}", headers=sales).status_code == 200
    sent.clear()
    response = client.get(f"/api/v1/customers/{customer}", headers=sales)
    assert response.status_code == 200
    assert reads_of(vault, customer) == 2
    with vault.app_context():
        dialect = db.engine.dialect.name
    if dialect == "postgresql":
        # two of the read's three round trips are bound on the client: the BEGIN with the
        # change stamps, and the audit INSERT with the COMMIT (the row's SELECT between them)
        begin, query = sent
        assert begin.startswith("BEGIN; SELECT change_counters.name, change_counters.version")
        assert query.startswith("INSERT INTO audit_events ")
        assert query.endswith("; COMMIT")
        assert SAMPLE_FIELDS["email"] not in query  # ids and field names only
    else:
        assert sent == []


def test_work_whose_audit_event_the_database_refuses_is_not_committed(
    vault: Flask, sales: dict[str, str], customer: str
) -> None:
    client: FlaskClient = vault.test_client()
    with vault.app_context(), db.transaction() as session:
        session.execute(sa.text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    try:
        renamed = {"fields": {"given_name": "Marguerite"}}
        response = client.patch(f"/api/v1/customers/{customer}", json=renamed, headers=sales)
    finally:
        with vault.app_context(), db.transaction() as session:
            session.execute(sa.text("ALTER TABLE audit_events_away RENAME TO audit_events"))
    # PostgreSQL refuses the INSERT sent with the COMMIT; SQLite's "no such table" is an
    # OperationalError, which the vault takes for an outage
    with vault.app_context():
        expected = {"postgresql": (500, "audit_unavailable"),
                    "sqlite": (503, "database_unavailable")}[db.engine.dialect.name]  # fmt: skip
    assert (response.status_code, response.get_json()["code"]) == expected
    assert "Marguerite" not in response.get_data(as_text=True)
    shown = client.get(f"/api/v1/customers/{customer}", headers=sales).get_json()
    assert shown["fields"]["given_name"]["value"] == SAMPLE_FIELDS["given_name"]


def test_a_change_whose_event_the_database_refuses_is_not_committed(
    vault: Flask, sales: dict[str, str], customer: str, sent: list[str]
) -> None:
    client: FlaskClient = vault.test_client()
    with vault.app_context(), db.transaction() as session:
        session.execute(sa.text("ALTER TABLE events RENAME TO events_away"))
    try:
        sent.clear()
        renamed = {"fields": {"given_name": "Marguerite"}}
        response = client.patch(f"/api/v1/customers/{customer}", json=renamed, headers=sales)
    finally:
        with vault.app_context(), db.transaction() as session:
            session.execute(sa.text("ALTER TABLE events_away RENAME TO events"))
    with vault.app_context():
        dialect = db.engine.dialect.name
    expected = {"postgresql": (500, "events_unavailable"),
                "sqlite": (503, "database_unavailable")}[dialect]  # fmt: skip
    assert (response.status_code, response.get_json()["code"]) == expected
    assert "Marguerite" not in response.get_data(as_text=True)
    if dialect == "postgresql":  # the event went with the next round trip, not one of its own
        assert any(q.startswith("INSERT INTO events ") for q in sent)
    shown = client.get(f"/api/v1/customers/{customer}", headers=sales).get_json()
    assert shown["fields"]["given_name"]["value"] == SAMPLE_FIELDS["given_name"]
