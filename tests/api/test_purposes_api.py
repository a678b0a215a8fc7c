"""/api/v1/purposes: legal bases, consent statistics, and new purposes by admins."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS, bearer


def test_purposes_carry_their_legal_basis_and_consent_counts(
    client: FlaskClient, optin_token: str
) -> None:
    sales = bearer(optin_token, **{"X-Purpose": "sales"})
    ids = []
    for i, consent in enumerate([True, False, None]):
        consents = [] if consent is None else [{"purpose": "marketing", "granted": consent}]
        body = {
            "fields": {**SAMPLE_FIELDS, "email": f"c{i}@example.org"},
            "region": "EU",
            "consents": consents,
        }
        ids.append(client.post("/api/v1/customers", json=body, headers=sales).get_json()["id"])
    items = client.get("/api/v1/purposes", headers=sales).get_json()["items"]
    by_code = {p["code"]: p for p in items}
    assert {code: p["legal_basis"] for code, p in by_code.items()} == {
        "analytics": "legitimate_interest",
        "billing": "legal_obligation",
        "marketing": "consent",
        "sales": "contract",
        "support": "contract",
    }
    assert by_code["marketing"]["consent"] == {"granted": 1, "withdrawn": 1, "never_asked": 1}
    assert by_code["billing"]["consent"] == {"granted": 0, "withdrawn": 0, "never_asked": 3}


def test_admins_add_purposes_and_a_consent_purpose_gates_rows(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    admin = bearer(make_token(role="admin", name="ops"))
    created = client.post(
        "/api/v1/purposes",
        json={"code": "events", "description": "Event invitations", "legal_basis": "consent"},
        headers=admin,
    )
    assert created.status_code == 201
    plan = client.get(
        "/api/v1/policies/explain?role=marketing&purpose=events", headers=admin
    ).get_json()
    assert plan["consent_required"] is True
    assert (
        client.post(
            "/api/v1/purposes", json={"code": "events", "legal_basis": "consent"}, headers=admin
        ).status_code
        == 409
    )
    bad = client.post(
        "/api/v1/purposes", json={"code": "Bad Code", "legal_basis": "whim"}, headers=admin
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"code", "legal_basis"}
    sales = bearer(make_token(role="sales"))
    assert (
        client.post(
            "/api/v1/purposes", json={"code": "x_y", "legal_basis": "contract"}, headers=sales
        ).status_code
        == 403
    )
