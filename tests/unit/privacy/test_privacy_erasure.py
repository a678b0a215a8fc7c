"""Erasure through the privacy portal, committed for real: afterwards the customer is invisible
to every role and unfindable, no value, blind index or data key of it remains in the database
(its storage is scanned), the certificate is signed, and the audit trail still verifies. Under a
legal hold nothing is deleted. Also the staff queue and the worker's deadlines."""

from __future__ import annotations

import glob
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import (
    DATABASE_KIND,
    REQUESTS,
    SAMPLE_FIELDS,
    SECRET_TEXT,
    bearer,
    messages,
    new_customer,
    verified_privacy_request,
)
from vault import runtime
from vault.audit.models import AuditEvent
from vault.audit.service import SYSTEM
from vault.auth.service import create_api_client
from vault.clock import FixedClock
from vault.customers.models import BlindIndexEntry, Customer, Interaction
from vault.customers.service import CustomerStore
from vault.db import db
from vault.governance.models import ConsentEvent, PrivacyRequest
from vault.models import Base
from vault.privacy.desk import PrivacyDesk
from vault.privacy.documents import signature_holds
from vault.privacy.queue import record_deadlines

ROLES = ("sales", "support", "marketing", "admin", "compliance_officer", "data_owner", "staff")
PURPOSE_OF = {"sales": "sales", "support": "support", "marketing": "marketing"}


@pytest.fixture
def vault(make_app: Callable[..., Flask]) -> Flask:
    return make_app()  # its own database: every request commits for real


def token(app: Flask, clock: FixedClock, role: str, name: str | None = None) -> str:
    with app.app_context(), db.transaction() as session:
        _client, secret = create_api_client(
            session, name=name or f"{role}-system", role=role, purposes=[], expires_days=None,
            regions=[], now=clock.now(),
        )  # fmt: skip
        return secret


def traces(app: Flask, customer_id: str) -> dict[str, Any]:
    """What of the customer is in the database: its blind-index digests, wrapped key, packed
    values and interaction and evidence ciphertexts."""
    with app.app_context():
        session = db.session
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return {
            "digests": list(
                session.scalars(
                    sa.select(BlindIndexEntry.digest).where(
                        BlindIndexEntry.customer_id == customer_id
                    )
                )
            ),
            "wrapped_key": customer.wrapped_key,
            "sealed_values": customer.sealed_values,
            "texts": [
                t
                for t in session.scalars(
                    sa.select(Interaction.text_ciphertext).where(
                        Interaction.customer_id == customer_id
                    )
                )
                if t
            ],
            "evidence": [
                e
                for e in session.scalars(
                    sa.select(ConsentEvent.evidence_ciphertext).where(
                        ConsentEvent.customer_id == customer_id
                    )
                )
                if e
            ],
        }


def storage(app: Flask) -> list[bytes]:
    """The database's storage: the SQLite files, or every PostgreSQL table as text."""
    url = app.config["VAULT_SETTINGS"].database_url
    with app.app_context():
        if DATABASE_KIND == "sqlite":
            path = url.removeprefix("sqlite:///")
            return [Path(p).read_bytes() for p in glob.glob(path + "*")]
        queries = [f'SELECT t::text FROM "{t.name}" t' for t in Base.metadata.sorted_tables]  # noqa: S608  (our own table names)
        return ["\n".join(db.session.scalars(sa.text(q))).encode() for q in queries]


def needles(found: dict[str, Any]) -> list[bytes]:
    raw = [*found["digests"], found["wrapped_key"], found["sealed_values"], *found["texts"],
           *found["evidence"]]  # fmt: skip
    values = [SAMPLE_FIELDS["national_id"].encode(), SECRET_TEXT.encode(), b"erase.me@example.org"]
    if DATABASE_KIND == "sqlite":
        return [*raw, *values]
    return [*(r.hex().encode() for r in raw), *values]  # bytea renders as hex


def erase_through_the_portal(client: FlaskClient, address: str) -> dict[str, Any]:
    done = verified_privacy_request(client, address, "erasure")
    assert done.status_code == 200, done.get_json()
    state: dict[str, Any] = client.get(f"{REQUESTS}/{done.get_json()['id']}").get_json()
    return state


def test_erasure_leaves_nothing_of_the_customer(vault: Flask, clock: FixedClock) -> None:
    client = vault.test_client()
    sales = bearer(token(vault, clock, "sales", "crm"), **{"X-Purpose": "sales"})
    customer_id = new_customer(client, sales, "erase.me@example.org")
    other = new_customer(client, sales, "stay@example.org")
    found = traces(vault, customer_id)
    # the other customer has the same phone number: its blind index rightly stays
    found["digests"] = [d for d in found["digests"] if d not in traces(vault, other)["digests"]]
    assert len(found["digests"]) == 1  # its e-mail address
    assert found["wrapped_key"]
    assert found["texts"]
    blobs = storage(vault)
    for n in needles(found)[:3]:
        assert any(n in blob for blob in blobs), n[:40]

    state = erase_through_the_portal(client, "erase.me@example.org")
    assert (state["status"], state["reason"], state["type"]) == ("completed", "", "erasure")
    certificate = state["certificate"]
    assert certificate["request_id"] == state["id"]
    assert certificate["customer_id"] == customer_id
    assert certificate["destroyed"]["data_key"] is True
    assert set(certificate["destroyed"]["fields"]) == set(SAMPLE_FIELDS)
    assert certificate["destroyed"]["interactions"] == 1
    with vault.app_context():
        assert signature_holds(runtime.customer_store(), certificate)
        assert not signature_holds(runtime.customer_store(), {**certificate, "customer_id": other})

    # invisible to every role, for every purpose, and unfindable
    for role in ROLES:
        headers = bearer(token(vault, clock, role), **{"X-Purpose": PURPOSE_OF.get(role, "sales")})
        assert client.get(f"/api/v1/customers/{customer_id}", headers=headers).status_code in (
            403, 404,
        )  # fmt: skip
        listed = client.get("/api/v1/customers?limit=500", headers=headers)
        if listed.status_code == 200:
            assert customer_id not in {c["id"] for c in listed.get_json()["items"]}
    search = client.post("/api/v1/customers/search", json={"email": "erase.me@example.org"},
                         headers=sales)  # fmt: skip
    assert search.status_code == 200
    assert search.get_json()["items"] == []
    assert client.get(f"/api/v1/customers/{other}", headers=sales).status_code == 200

    # nothing of it is left in the database, not even in free pages or the WAL
    with vault.app_context():
        customer = db.session.get(Customer, customer_id)
        assert customer is not None
        assert customer.status == "erased"
        assert customer.wrapped_key is None
        assert customer.sealed_values is None
    blobs = storage(vault)
    for needle in needles(found):
        assert all(needle not in blob for blob in blobs), needle[:12]

    with vault.app_context():
        runtime.audit_log().seal(db.session, now=clock.now())
        db.session.commit()
        assert runtime.audit_log().verify(db.session, now=clock.now()).ok
        events = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.outcome)
            .where(AuditEvent.action.like("privacy.%"))
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("privacy.request", "allowed"),
        ("privacy.verify", "allowed"),
        ("privacy.erase", "allowed"),
    ]


def test_under_a_legal_hold_nothing_is_deleted(vault: Flask, clock: FixedClock) -> None:
    client = vault.test_client()
    sales = bearer(token(vault, clock, "sales", "crm"), **{"X-Purpose": "sales"})
    officer = bearer(token(vault, clock, "compliance_officer", "legal"))
    customer_id = new_customer(client, sales, "held@example.org")
    hold = client.post("/api/v1/legal-holds", json={"customer_id": customer_id,
                       "reason": "litigation 2026-114"}, headers=officer)  # fmt: skip
    assert hold.status_code == 201
    before = traces(vault, customer_id)

    state = erase_through_the_portal(client, "held@example.org")
    assert (state["status"], state["reason"]) == ("rejected", "legal_hold")
    assert "certificate" not in state
    assert traces(vault, customer_id) == before
    assert client.get(f"/api/v1/customers/{customer_id}", headers=sales).status_code == 200
    with vault.app_context():
        denied = db.session.execute(
            sa.select(AuditEvent.outcome, AuditEvent.reason).where(
                AuditEvent.action == "privacy.erase"
            )
        ).all()
    assert [tuple(d) for d in denied] == [("denied", "legal_hold")]


def test_the_staff_queue(app: Flask, client: FlaskClient, make_token: Callable[..., str],
                         clock: FixedClock) -> None:  # fmt: skip
    sales = bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})
    officer = bearer(make_token(role="compliance_officer", name="legal"))
    customer_id = new_customer(client, sales, "queue@example.org")
    asked = client.post(REQUESTS, json={"email": "queue@example.org", "type": "export"})
    request_id = asked.get_json()["id"]

    queue = client.get("/api/v1/privacy-requests", headers=officer)
    assert queue.status_code == 200
    [item] = queue.get_json()["items"]
    assert (item["id"], item["customer_id"], item["status"]) == (
        request_id, customer_id, "pending_verification",
    )  # fmt: skip
    assert item["due_at"] == clock.now().replace(day=31).isoformat()  # received + 30 days
    assert item["overdue"] is False
    assert client.get("/api/v1/privacy-requests", headers=sales).status_code == 403

    clock.advance(days=31)
    late = client.get("/api/v1/privacy-requests?overdue=true", headers=officer).get_json()
    assert [i["id"] for i in late["items"]] == [request_id]
    extended = client.post(f"/api/v1/privacy-requests/{request_id}/extend",
                           json={"reason": "the customer sent two more requests"},
                           headers=officer)  # fmt: skip
    assert extended.status_code == 200
    assert extended.get_json()["extended"] is True
    assert extended.get_json()["overdue"] is False
    twice = client.post(f"/api/v1/privacy-requests/{request_id}/extend",
                        json={"reason": "once more please"}, headers=officer)  # fmt: skip
    assert twice.status_code == 409

    # filed for a customer who called: the export link goes to the address on file
    filed = client.post("/api/v1/privacy-requests", json={
        "type": "export", "customer_id": customer_id, "channel": "phone",
        "identity_check": "callback_to_number_on_file"}, headers=officer)  # fmt: skip
    assert filed.status_code == 201, filed.get_json()
    assert filed.get_json()["status"] == "completed"
    assert filed.get_json()["identity_check"] == "callback_to_number_on_file"
    assert filed.get_json()["filed_by"].startswith("cli_")  # the officer's client
    link = messages(app)[-1]
    assert link["To"] == "queue@example.org"
    body = link.get_body(("plain",))
    assert body is not None
    assert "/privacy/downloads/" in body.get_content()
    bad = client.post("/api/v1/privacy-requests", json={
        "type": "export", "customer_id": customer_id, "channel": "portal",
        "identity_check": "email_code"}, headers=officer)  # fmt: skip
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"channel", "identity_check"}


def desk_now(store: CustomerStore, clock: FixedClock) -> PrivacyDesk:
    store.now = clock.now()
    return PrivacyDesk(store, SYSTEM)


def test_the_worker_records_deadlines_once(app: Flask, clock: FixedClock) -> None:
    with app.app_context():
        store = runtime.customer_store()
        customer_id = store.create({**SAMPLE_FIELDS, "email": "slow@example.org"}, region="EU")
        desk = PrivacyDesk(store, SYSTEM)
        request, _ = desk.submit("slow@example.org", "export")
        unknown, _ = desk.submit("ghost@example.org", "erasure")
        db.session.flush()
        clock.advance(days=8)
        report = record_deadlines(desk_now(store, clock))
        assert report == {"lapsed": 2, "overdue": 0}
        assert db.session.get_one(PrivacyRequest, request.id).reason == "not_verified"
        assert db.session.get_one(PrivacyRequest, unknown.id).address_digest is None
        filed, _ = desk_now(store, clock).file(
            "erasure", customer_id, channel="letter", identity_check="signed_letter", by="usr_1"
        )
        filed.status = "processing"  # as if the erasure were still under way
        db.session.flush()
        clock.advance(days=31)
        first = record_deadlines(desk_now(store, clock))
        second = record_deadlines(desk_now(store, clock))
        assert (first["overdue"], second["overdue"]) == (1, 0)
        overdue = db.session.scalars(
            sa.select(AuditEvent.customer_ids).where(AuditEvent.action == "privacy_request.overdue")
        ).all()
        assert overdue == [customer_id]


def test_a_download_leaves_no_transaction_open(vault: Flask, clock: FixedClock) -> None:
    """The export streams after the request's transaction has ended, on a reading session
    of its own that is closed at the end: writers are never kept waiting (SQLite), no
    connection is left idle in a transaction (PostgreSQL)."""
    client = vault.test_client()
    sales = bearer(token(vault, clock, "sales", "crm"), **{"X-Purpose": "sales"})
    new_customer(client, sales, "reader@example.org")
    done = verified_privacy_request(client, "reader@example.org", "export")
    download = client.get(done.get_json()["download_url"])
    assert download.status_code == 200
    assert len(download.data) > 1000
    url = vault.config["VAULT_SETTINGS"].database_url
    if DATABASE_KIND == "sqlite":
        other = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the stream kept its lock
            other.execute("ROLLBACK")
        finally:
            other.close()
        return
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        left_open = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%'"
        ).fetchone()
    assert left_open == (0,)
