"""Stored markup is shown as text, never run: customer values, a purpose's description and an
access request's justification holding HTML come back escaped on the admin pages that show
them (Jinja autoescaping, kept on for every template)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, SAMPLE_FIELDS, bearer, csrf_token, log_in

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'


def test_markup_stored_anywhere_is_escaped_on_every_page(
    app: Flask, client: FlaskClient, make_user: Callable[..., str], make_token: Callable[..., str]
) -> None:
    sales = bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})
    api = app.test_client()
    fields = {**SAMPLE_FIELDS, "given_name": SCRIPT, "company": ATTRIBUTE}
    created = api.post("/api/v1/customers", json={"fields": fields, "region": "EU"}, headers=sales)
    assert created.status_code == 201
    customer = created.get_json()["id"]
    admin = bearer(make_token(role="admin", name="ops"))
    purpose = {"code": "surveys", "legal_basis": "consent", "description": SCRIPT}
    assert api.post("/api/v1/purposes", json=purpose, headers=admin).status_code == 201

    owner = make_user("owner@example.com", roles=("data_owner",))
    assert api.put("/api/v1/ownership/profile", json={"user_id": owner},
                   headers=admin).status_code == 200  # fmt: skip
    make_user("sales@example.com", roles=("sales",))
    assert log_in(client, "sales@example.com", PASSWORD).status_code == 302
    looked_up = client.post("/admin/customers", data={
        "csrf_token": csrf_token(client, "/admin/customers"), "purpose": "sales",
        "customer_id": customer}).get_data(as_text=True)  # fmt: skip
    assert customer in looked_up
    asked = client.post("/admin/access-requests", data={
        "csrf_token": csrf_token(client, "/admin/access-requests"), "purpose": "sales",
        "categories": "profile", "customer_ids": customer, "justification": ATTRIBUTE + SCRIPT,
        "duration_days": "3"})  # fmt: skip
    pages = {
        "customer": looked_up,
        "purposes": client.get("/admin/purposes").get_data(as_text=True),
        "access requests": client.get("/admin/access-requests").get_data(as_text=True),
    }
    for name, html in pages.items():
        assert SCRIPT not in html, name
        assert ATTRIBUTE not in html, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["customer"]
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in pages["customer"]
    assert "&lt;script&gt;" in pages["purposes"]
    assert asked.status_code == 302
    assert "onerror=alert(2)&gt;&lt;script&gt;" in pages["access requests"]
