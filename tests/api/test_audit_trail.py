"""What the audit trail records over HTTP, and the compliance officer's API over it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, SAMPLE_FIELDS, bearer, events, log_in
from tests.support import probe
from vault import runtime
from vault.audit.models import AuditEventCustomer
from vault.audit.query import accesses_of_customer
from vault.audit.service import AuditContext, AuditWriteFailed, record_event
from vault.audit_trail import request_context
from vault.db import db


@pytest.fixture
def auditor(make_token: Callable[..., str]) -> str:
    return make_token(role="compliance_officer", name="compliance")


def test_log_ins_are_audited_without_the_email_tried(
    app: Flask, client: FlaskClient, make_user: Callable[..., str]
) -> None:
    user_id = make_user("admin@example.com")
    assert log_in(client, "nobody@example.com", "whatever password").status_code == 401
    assert log_in(client, "admin@example.com", "wrong password here").status_code == 401
    assert log_in(client, "admin@example.com", PASSWORD).status_code == 302
    logins = events(app, action="auth.login")
    assert [(e.actor_kind, e.actor_id, e.outcome, e.reason) for e in logins] == [
        ("anonymous", "", "denied", "bad_credentials"),
        ("user", user_id, "denied", "bad_credentials"),
        ("user", user_id, "allowed", ""),
    ]
    assert all("nobody@example.com" not in str(vars(e)) for e in logins)


def test_a_refused_token_leaves_a_denied_event(
    app: Flask, client: FlaskClient, make_token: Callable[..., str]
) -> None:
    token = make_token()
    assert client.get("/api/v1/me", headers=bearer(token[:-2] + "zz")).status_code == 401
    assert client.get("/api/v1/me", headers=bearer("garbage")).status_code == 401
    denied = events(app, outcome="denied")
    assert [(e.action, e.reason, e.actor_kind) for e in denied] == [
        ("me.get", "unknown", "anonymous"),
        ("me.get", "malformed", "anonymous"),
    ]
    assert all(token[10:] not in str(vars(e)) for e in denied)


def test_purpose_refusals_are_denied_events(app: Flask, make_token: Callable[..., str]) -> None:
    probe.install(app)
    client = app.test_client()
    token = make_token(role="sales", name="crm")
    client.get("/api/v1/probe-customers", headers=bearer(token))
    client.get("/api/v1/probe-customers", headers=bearer(token, **{"X-Purpose": "marketing"}))
    denied = events(app, outcome="denied")
    assert [(e.action, e.reason, e.actor_kind) for e in denied] == [
        ("probe_customers.get", "purpose_required", "client"),
        ("probe_customers.get", "purpose_not_allowed", "client"),
    ]


def test_a_role_refusal_is_a_denied_event(
    app: Flask, client: FlaskClient, make_token: Callable[..., str]
) -> None:
    field = {"name": "tier", "type": "string", "category": "profile", "sensitivity": "low"}
    assert (
        client.post(
            "/api/v1/fields", json=field, headers=bearer(make_token(role="sales"))
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/fields", json=field, headers=bearer(make_token(role="admin"))
        ).status_code
        == 201
    )
    recorded = [
        (e.action, e.outcome, e.field_names)
        for e in events(app)
        if e.action.startswith(("fields", "catalogue"))
    ]
    assert recorded == [("fields.post", "denied", ""), ("catalogue.change", "allowed", "tier")]


def test_no_audit_no_change(
    app: Flask, client: FlaskClient, make_token: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    token = make_token(role="admin")

    def broken(*_args: Any, **_kwargs: Any) -> int:
        raise AuditWriteFailed("the audit trail cannot be written; nothing was done")

    monkeypatch.setattr("vault.auth.bound.record_event", broken)  # where services record
    field = {"name": "tier", "type": "string", "category": "profile", "sensitivity": "low"}
    response = client.post("/api/v1/fields", json=field, headers=bearer(token))
    assert response.status_code == 500
    assert response.get_json()["code"] == "audit_unavailable"
    monkeypatch.undo()
    names = [
        f["name"] for f in client.get("/api/v1/fields", headers=bearer(token)).get_json()["items"]
    ]
    assert "tier" not in names


def seed_customer_events(app: Flask) -> str:
    with app.app_context(), db.transaction() as session:
        customer_id = runtime.customer_store().create(SAMPLE_FIELDS, region="EU")
        for purpose, outcome in (
            ("sales", "allowed"),
            ("marketing", "denied"),
            ("support", "allowed"),
        ):
            record_event(
                session, AuditContext("client", "cli_crm", purpose, "req-1", "127.0.0.1"),
                action="customer.read", outcome=outcome, now=runtime.now(),
                customer_ids=[customer_id], field_names=["email", "national_id"],
            )  # fmt: skip
        return customer_id


def test_auditors_filter_and_page_through_events(
    client: FlaskClient, app: Flask, auditor: str
) -> None:
    customer_id = seed_customer_events(app)
    body = client.get(
        f"/api/v1/audit/events?customer={customer_id}&limit=2", headers=bearer(auditor)
    ).get_json()
    assert [e["purpose"] for e in body["items"]] == ["support", "marketing"]
    assert body["items"][0]["customer_ids"] == [customer_id]
    assert body["items"][0]["field_names"] == ["email", "national_id"]
    rest = client.get(
        f"/api/v1/audit/events?customer={customer_id}&limit=2&cursor={body['next_cursor']}",
        headers=bearer(auditor),
    ).get_json()
    assert [e["purpose"] for e in rest["items"]] == ["sales"]
    assert rest["next_cursor"] is None
    denied = client.get(
        "/api/v1/audit/events?outcome=denied&action=customer.read", headers=bearer(auditor)
    ).get_json()
    assert [e["purpose"] for e in denied["items"]] == ["marketing"]
    since = client.get(
        "/api/v1/audit/events?since=2100-01-01T00:00:00Z", headers=bearer(auditor)
    ).get_json()
    assert since["items"] == []
    bad = client.get("/api/v1/audit/events?outcome=maybe&since=yesterday", headers=bearer(auditor))
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"outcome", "since"}


def test_only_auditors_read_the_trail(
    client: FlaskClient, app: Flask, make_token: Callable[..., str]
) -> None:
    for role in ("sales", "marketing", "support", "staff", "data_owner"):
        token = make_token(role=role)
        for path in (
            "/api/v1/audit/events",
            "/api/v1/audit/verify",
            "/api/v1/audit/export?format=csv",
        ):
            assert client.get(path, headers=bearer(token)).status_code == 403, (role, path)
    assert (
        client.get("/api/v1/audit/events", headers=bearer(make_token(role="admin"))).status_code
        == 200
    )


def test_verify_over_http(client: FlaskClient, auditor: str) -> None:
    body = client.get("/api/v1/audit/verify", headers=bearer(auditor)).get_json()
    assert body["ok"] is True
    assert body["problem"] is None


def test_exports_stream_every_event_without_values(
    client: FlaskClient, app: Flask, auditor: str
) -> None:
    customer_id = seed_customer_events(app)
    jsonl = client.get(
        "/api/v1/audit/export?format=jsonl&action=customer.read", headers=bearer(auditor)
    )
    assert jsonl.status_code == 200
    assert jsonl.mimetype == "application/x-ndjson"
    assert jsonl.is_streamed
    lines = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert [line["purpose"] for line in lines] == ["sales", "marketing", "support"]
    exported = client.get("/api/v1/audit/export?format=csv", headers=bearer(auditor))
    assert exported.headers["Content-Disposition"] == 'attachment; filename="audit-events.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {r["action"] for r in rows} >= {"customer.read", "audit.export"}
    assert any(r["customer_ids"] == customer_id for r in rows)
    everything = jsonl.get_data(as_text=True) + exported.get_data(as_text=True)
    everything += client.get("/api/v1/audit/events?limit=500", headers=bearer(auditor)).get_data(
        as_text=True
    )
    for value in SAMPLE_FIELDS.values():
        for item in value if isinstance(value, list) else [value]:
            assert item not in everything
            assert item.lower() not in everything.lower()
    assert client.get("/api/v1/audit/export?format=xml", headers=bearer(auditor)).status_code == 422


def test_reading_the_trail_is_audited(client: FlaskClient, app: Flask, auditor: str) -> None:
    client.get("/api/v1/audit/events", headers=bearer(auditor))
    client.get("/api/v1/audit/verify", headers=bearer(auditor))
    client.get("/api/v1/audit/export?format=csv", headers=bearer(auditor)).get_data()
    actions = [e.action for e in events(app) if e.action.startswith("audit.")]
    assert actions == ["audit.read", "audit.verify", "audit.export"]


def test_who_accessed_a_customer(app: Flask) -> None:
    customer_id = seed_customer_events(app)
    with app.app_context():
        accesses = list(accesses_of_customer(db.session, customer_id))
    assert [(a["purpose"], a["actor_id"]) for a in accesses] == [
        ("sales", "cli_crm"),
        ("support", "cli_crm"),
    ]
    assert accesses[0]["field_names"] == ["email", "national_id"]


def test_the_request_context_names_no_person(app: Flask) -> None:
    with app.test_request_context("/api/v1/me", environ_base={"REMOTE_ADDR": "192.0.2.7"}):
        context = request_context()
    assert context == AuditContext("anonymous", "", "", "", "192.0.2.7")


def test_events_of_a_customer_are_found_before_and_after_sealing(app: Flask) -> None:
    """Links to customers are written by the sealer; until then an event is found through
    its list of ids, so the answer is the same either side of a seal."""
    with app.app_context(), db.transaction() as session:
        store = runtime.customer_store()
        first = store.create(SAMPLE_FIELDS, region="EU")
        second = store.create({**SAMPLE_FIELDS, "email": "other@example.org"}, region="EU")
        context = AuditContext("client", "cli_crm", "sales", "req-2", "127.0.0.1")
        for ids in ([first], [first, second], [second]):
            record_event(session, context, action="customer.list", outcome="allowed",
                         now=runtime.now(), customer_ids=ids)  # fmt: skip
        # an event linked at write time, as an earlier version did: not linked twice
        early = record_event(session, context, action="customer.read", outcome="allowed",
                             now=runtime.now(), customer_ids=[first])  # fmt: skip
        session.execute(sa.insert(AuditEventCustomer), [{"event_id": early,
                                                         "customer_id": first}])  # fmt: skip

    def actions(customer_id: str) -> list[str]:
        return [a["action"] for a in accesses_of_customer(db.session, customer_id)]

    with app.app_context():
        before = (actions(first), actions(second))
        assert before == (["customer.list", "customer.list", "customer.read"],
                          ["customer.list", "customer.list"])  # fmt: skip
        assert actions("cus_" + "0" * 32) == []
        runtime.audit_log().seal(db.session, now=runtime.now())
        links = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEventCustomer))
        assert links == 5  # 1 + 2 + 1 written by the sealer, and the early one
        assert (actions(first), actions(second)) == before
