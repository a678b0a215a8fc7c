"""The admin UI's governance pages: each shows what the API shows, only to the roles the API
allows, audits the viewing, and never shows a customer value."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, SAMPLE_FIELDS, bearer
from tests.test_admin_login import log_in
from vault.audit.models import AuditEvent
from vault.clock import FixedClock
from vault.db import db

PAGES = ["/admin/fields", "/admin/purposes", "/admin/retention", "/admin/audit",
         "/admin/privacy-requests"]  # fmt: skip


@pytest.fixture
def officer(client: FlaskClient, make_user: Callable[..., str]) -> FlaskClient:
    make_user("officer@example.com", roles=("compliance_officer",))
    assert log_in(client, "officer@example.com", PASSWORD).status_code == 302
    return client


@pytest.fixture
def customer_id(app: Flask, make_token: Callable[..., str]) -> str:
    sales = bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})
    client = app.test_client()
    created = client.post("/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
                          headers=sales)  # fmt: skip
    assert created.status_code == 201
    customer: str = created.get_json()["id"]
    assert client.get(f"/api/v1/customers/{customer}", headers=sales).status_code == 200
    return customer


def test_an_officer_sees_every_governance_page_and_no_value(
    officer: FlaskClient, app: Flask, customer_id: str, clock: FixedClock
) -> None:
    asked = officer.post("/privacy/requests",
                         json={"email": SAMPLE_FIELDS["email"], "type": "export"})  # fmt: skip
    request_id = asked.get_json()["id"]
    clock.advance(days=31)
    texts = {}
    for page in PAGES:
        response = officer.get(page)
        assert response.status_code == 200, page
        texts[page] = response.get_data(as_text=True)
    assert "ret_erase_inactive_customers" in texts["/admin/retention"]
    assert "legitimate interest" in texts["/admin/purposes"]
    assert "national_id" in texts["/admin/fields"]
    assert "customer.read" in texts["/admin/audit"]
    queue = texts["/admin/privacy-requests"]
    assert request_id in queue
    assert "OVERDUE" in queue
    assert "2026-01-31" in queue  # due 30 days after 2026-01-01
    for text in texts.values():
        for value in (SAMPLE_FIELDS["email"], SAMPLE_FIELDS["family_name"],
                      SAMPLE_FIELDS["national_id"], SAMPLE_FIELDS["phone"]):  # fmt: skip
            assert value not in text

    filtered = officer.get(f"/admin/audit?customer={customer_id}&action=customer.read")
    rows = filtered.get_data(as_text=True).count("<tr>") - 1  # minus the header
    assert rows == 1
    verified = officer.get("/admin/audit?verify=1").get_data(as_text=True)
    assert "The log is intact" in verified
    assert "/api/v1/audit/export?format=csv" in verified
    exported = officer.get("/api/v1/audit/export?format=csv")
    assert exported.status_code == 200
    with app.app_context():
        seen = set(
            db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.actor_kind == "user"))
        )
    assert {"privacy_request.read", "audit.read", "audit.verify", "retention.read"} <= seen


def test_pages_are_for_their_roles_and_for_logged_in_staff(
    client: FlaskClient, make_user: Callable[..., str]
) -> None:
    assert client.get("/admin/audit").status_code == 302  # to the log-in page
    make_user("sales@example.com", roles=("sales",))
    assert log_in(client, "sales@example.com", PASSWORD).status_code == 302
    assert client.get("/admin/fields").status_code == 200
    for page in ("/admin/audit", "/admin/privacy-requests", "/admin/retention"):
        refused = client.get(page)
        assert refused.status_code == 403, page
        assert "text/html" in refused.content_type
