"""/api/v1/legal-holds: compliance officers place and lift holds, with reasons, audited."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS, bearer
from vault.audit.models import AuditEvent
from vault.db import db
from vault.governance.legal_holds import under_hold


def test_a_hold_is_placed_and_lifted_with_reasons(
    client: FlaskClient, app: Flask, make_token: Callable[..., str]
) -> None:
    sales = bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})
    customer_id = client.post(
        "/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"}, headers=sales
    ).get_json()["id"]
    officer = bearer(make_token(role="compliance_officer", name="legal"))
    placed = client.post(
        "/api/v1/legal-holds",
        json={"customer_id": customer_id, "reason": "Litigation case 2026-114"},
        headers=officer,
    )
    assert placed.status_code == 201
    hold = placed.get_json()
    assert hold["active"] is True
    with app.app_context():
        assert under_hold(db.session, customer_id)
    listed = client.get("/api/v1/legal-holds", headers=officer).get_json()["items"]
    assert [h["id"] for h in listed] == [hold["id"]]
    lifted = client.post(
        f"/api/v1/legal-holds/{hold['id']}/lift", json={"reason": "Case settled"}, headers=officer
    )
    assert lifted.get_json()["active"] is False
    assert lifted.get_json()["lift_reason"] == "Case settled"
    with app.app_context():
        assert not under_hold(db.session, customer_id)
        actions = [
            (e.action, e.reason)
            for e in db.session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action.like("legal_hold.%"))
                .order_by(AuditEvent.id)
            )
        ]
    assert actions == [
        ("legal_hold.place", hold["id"]),
        ("legal_hold.read", ""),
        ("legal_hold.lift", hold["id"]),
    ]
    assert client.get("/api/v1/legal-holds", headers=officer).get_json()["items"] == []
    assert (
        len(client.get("/api/v1/legal-holds?active=false", headers=officer).get_json()["items"])
        == 1
    )
    again = client.post(
        f"/api/v1/legal-holds/{hold['id']}/lift", json={"reason": "Twice"}, headers=officer
    )
    assert again.status_code == 422


def test_only_compliance_officers_place_holds_and_bad_input_is_refused(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    officer = bearer(make_token(role="compliance_officer", name="legal"))
    for role in ("admin", "sales", "support"):
        refused = client.post(
            "/api/v1/legal-holds",
            json={"customer_id": "cus_x", "reason": "Because of a case"},
            headers=bearer(make_token(role=role)),
        )
        assert refused.status_code == 403
    unknown = client.post(
        "/api/v1/legal-holds",
        json={"customer_id": "cus_" + "0" * 32, "reason": "Because of a case"},
        headers=officer,
    )
    assert unknown.status_code == 404
    short = client.post(
        "/api/v1/legal-holds", json={"customer_id": "cus_x", "reason": "no"}, headers=officer
    )
    assert short.status_code == 422
    assert "reason" in short.get_json()["errors"]
    assert (
        client.post(
            "/api/v1/legal-holds/hold_none/lift", json={"reason": "Case settled"}, headers=officer
        ).status_code
        == 404
    )
