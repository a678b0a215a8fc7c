"""Every refused attempt is an audit event with outcome ``denied`` that names the customer it
aimed at, when the vault knows it (API.md §2 "Governance", /audit/events): 403, 404, 409 and
422 on customer routes, admin-UI look-ups and pages, and admin forms refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import PASSWORD, SAMPLE_FIELDS, bearer, csrf_token, log_in
from vault.audit.models import AuditEvent
from vault.db import db

Tokens = dict[str, str]


@pytest.fixture
def tokens(make_token: Callable[..., str]) -> Tokens:
    return {
        "sales": make_token(role="sales", name="crm"),
        "sales_us": make_token(role="sales", name="crm-us", regions=("US",)),
        "support": make_token(role="support", name="helpdesk"),
    }


def call(client: FlaskClient, method: str, path: str, token: str, purpose: str | None,
         body: Any = None) -> TestResponse:  # fmt: skip
    headers = bearer(token, **({"X-Purpose": purpose} if purpose else {}))
    return client.open(f"/api/v1/customers{path}", method=method, json=body, headers=headers)


@pytest.fixture
def eu_customer(client: FlaskClient, tokens: Tokens) -> str:
    response = call(client, "POST", "", tokens["sales"], "sales",
                    {"fields": SAMPLE_FIELDS, "region": "EU"})  # fmt: skip
    assert response.status_code == 201
    return str(response.get_json()["id"])


def denials(app: Flask) -> list[tuple[str, str, str, str]]:
    """(action, customer ids, reason, actor id) of every denied event, oldest first."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.customer_ids, AuditEvent.reason,
                      AuditEvent.actor_id)
            .where(AuditEvent.outcome == "denied").order_by(AuditEvent.id)
        )  # fmt: skip
        return [(action, ids, reason, actor) for action, ids, reason, actor in rows]


def test_a_404_403_and_422_on_a_customer_name_the_customer(
    app: Flask, client: FlaskClient, tokens: Tokens, eu_customer: str
) -> None:
    assert call(client, "GET", f"/{eu_customer}", tokens["sales_us"], "sales").status_code == 404
    national = {"fields": {"national_id": "FR-0000"}}
    assert call(client, "PATCH", f"/{eu_customer}", tokens["support"], "support",
                national).status_code == 403  # fmt: skip
    assert call(client, "PATCH", f"/{eu_customer}", tokens["sales"], "sales",
                {"fields": "not an object"}).status_code == 422  # fmt: skip
    assert call(client, "GET", f"/{eu_customer}/consents", tokens["sales"], None).status_code == 400
    assert [(a, c, r) for a, c, r, _ in denials(app)] == [
        ("customers.get", eu_customer, "not_found"),
        ("customers.patch", eu_customer, "forbidden"),
        ("customers.patch", eu_customer, "validation_failed"),
        ("customers.get", eu_customer, "purpose_required"),
    ]


def test_a_duplicate_probe_is_recorded_against_the_customer_it_found(
    app: Flask, client: FlaskClient, tokens: Tokens, eu_customer: str
) -> None:
    """A US-only client learns nothing of an EU customer with the same e-mail, but the probe
    is on the record of that customer."""
    probe = call(client, "POST", "", tokens["sales_us"], "sales",
                 {"fields": SAMPLE_FIELDS, "region": "US"})  # fmt: skip
    assert probe.status_code == 409
    assert "existing_id" not in probe.get_json()
    assert eu_customer not in probe.get_data(as_text=True)
    assert [(a, c, r) for a, c, r, _ in denials(app)] == [
        ("customers.post", eu_customer, "duplicate_customer")
    ]


def test_an_id_that_cannot_be_a_customer_id_is_not_named(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    assert call(client, "GET", "/cus_" + "x" * 60, tokens["sales"], "sales").status_code == 404
    assert [(a, c, r) for a, c, r, _ in denials(app)] == [("customers.get", "", "not_found")]


def test_admin_ui_refusals_are_recorded_with_the_user_and_the_customer(
    app: Flask, client: FlaskClient, make_user: Callable[..., str], eu_customer: str
) -> None:
    support = make_user("support@example.com", roles=("support",))
    assert log_in(client, "support@example.com", PASSWORD).status_code == 302
    token = csrf_token(client, "/admin/customers")
    unknown = client.post("/admin/customers", data={
        "csrf_token": token, "purpose": "support", "customer_id": "cus_nobody"})  # fmt: skip
    assert unknown.status_code == 404
    assert client.get("/admin/audit").status_code == 403  # not an auditor
    officer = make_user("officer@example.com", roles=("compliance_officer",))
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert log_in(client, "officer@example.com", PASSWORD).status_code == 302
    hold = client.post("/admin/legal-holds", data={
        "csrf_token": csrf_token(client, "/admin/retention"), "customer_id": "cus_nobody",
        "reason": "litigation hold"})  # fmt: skip
    assert hold.status_code == 302
    forged = client.post("/admin/legal-holds", data={"customer_id": eu_customer, "reason": "x"})
    assert forged.status_code == 302
    assert denials(app) == [
        ("admin.customers", "cus_nobody", "http_404", support),
        ("admin.audit_log", "", "http_403", support),
        ("admin.add_hold", "cus_nobody", "not_found", officer),
        ("admin.add_hold", "", "csrf_failed", officer),
    ]
