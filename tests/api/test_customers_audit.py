"""An audit event for every customer-data route of the customers API (API.md §2), and no
customer data when the audit trail cannot be written or a route forgets its audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS, Tokens, events
from tests.helpers import call_customers as call
from tests.helpers import create_customer as create
from vault.audit.service import AuditWriteFailed
from vault.db import db


def test_no_audit_no_data(
    client: FlaskClient, tokens: Tokens, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = create(client, tokens)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def broken(*_args: Any, **_kwargs: Any) -> int:
        raise AuditWriteFailed("the audit trail cannot be written; nothing was done")

    monkeypatch.setattr("vault.audit_trail.record_event", broken)
    response = call(client, "GET", f"/{customer_id}", tokens["sales"], "sales")
    assert response.status_code == 500
    assert "Jeanne" not in response.get_data(as_text=True)


def test_a_read_whose_audit_insert_the_database_refuses_sends_no_data(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    customer_id = create(client, tokens)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():  # (the test's outer transaction undoes it)
        db.session.execute(sa.text("ALTER TABLE audit_events RENAME TO audit_events_away"))
        db.session.commit()
    response = call(client, "GET", f"/{customer_id}", tokens["sales"], "sales")
    # PostgreSQL refuses the INSERT (an unknown table: the audit trail cannot be written);
    # SQLite's "no such table" is an OperationalError, which the vault takes for an outage
    answer = {"postgresql": (500, "audit_unavailable"), "sqlite": (503, "database_unavailable")}
    with app.app_context():
        expected = answer[db.engine.dialect.name]
    assert (response.status_code, response.get_json()["code"]) == expected
    assert "Jeanne" not in response.get_data(as_text=True)


def test_a_route_that_forgets_its_audit_sends_nothing(
    client: FlaskClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = create(client, tokens)
    monkeypatch.setattr("vault.services.audit", lambda *_a, **_k: None)
    response = call(client, "GET", f"/{customer_id}", tokens["sales"], "sales")
    assert response.status_code == 500
    assert response.get_json()["code"] == "audit_missing"
    assert "Jeanne" not in response.get_data(as_text=True)


# Every customer-data route, and a call of it that succeeds. A new route missing here fails
# test_every_customer_route_is_audited: add its call, and it is checked like the others.
ROUTE_CALLS: dict[tuple[str, str], tuple[str, str, Any, str]] = {
    ("POST", "/api/v1/customers"): (
        "POST",
        "",
        {"fields": {**SAMPLE_FIELDS, "email": "new@example.org"}, "region": "EU"},
        "customer.create",
    ),
    ("GET", "/api/v1/customers"): ("GET", "", None, "customer.list"),
    ("GET", "/api/v1/customers/<customer_id>"): ("GET", "/{id}", None, "customer.read"),
    ("PATCH", "/api/v1/customers/<customer_id>"): (
        "PATCH",
        "/{id}",
        {"fields": {"company": "Acme"}},
        "customer.update",
    ),
    ("POST", "/api/v1/customers/search"): (
        "POST",
        "/search",
        {"email": SAMPLE_FIELDS["email"]},
        "customer.search",
    ),
    ("POST", "/api/v1/customers/batch"): (
        "POST",
        "/batch",
        {"items": [{"fields": {**SAMPLE_FIELDS, "email": "batch@example.org"}, "region": "EU"}]},
        "customer.create",
    ),
    ("POST", "/api/v1/customers/lookup"): ("POST", "/lookup", {"ids": ["{id}"]}, "customer.read"),
    ("GET", "/api/v1/customers/<customer_id>/consents"): (
        "GET",
        "/{id}/consents",
        None,
        "consent.read",
    ),
    ("POST", "/api/v1/customers/<customer_id>/consents"): (
        "POST",
        "/{id}/consents",
        {"purpose": "marketing", "granted": False},
        "consent.change",
    ),
    ("GET", "/api/v1/customers/<customer_id>/interactions"): (
        "GET",
        "/{id}/interactions",
        None,
        "interaction.read",
    ),
    ("POST", "/api/v1/customers/<customer_id>/interactions"): (
        "POST",
        "/{id}/interactions",
        {"kind": "purchase", "amount": "5", "currency": "EUR"},
        "interaction.create",
    ),
}


# Customer-data routes whose audit event another test checks, because calling them needs more
# set-up than a token (an approved access grant).
AUDITED_ELSEWHERE = {
    ("GET", "/api/v1/access-requests/<request_id>/customers"): (
        "tests/api/test_access_requests.py::test_owners_approve_and_the_grant_shows_its_fields"
    ),
}
CUSTOMER_DATA_BLUEPRINTS = ("customers.", "access_request_customers.")


def customer_routes(app: Flask) -> set[tuple[str, str]]:
    """Every route of the blueprints that serve customer data (those with the purpose guard)."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(CUSTOMER_DATA_BLUEPRINTS)
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_the_customer_data_blueprints_are_the_guarded_ones(app: Flask) -> None:
    from vault.api.auth import purpose_guard

    guarded = {
        name for name, hooks in app.before_request_funcs.items() if name and purpose_guard in hooks
    }
    assert {f"{name}." for name in guarded} == set(CUSTOMER_DATA_BLUEPRINTS)


def test_every_customer_route_is_audited(client: FlaskClient, tokens: Tokens, app: Flask) -> None:
    routes = customer_routes(app) - set(AUDITED_ELSEWHERE)
    assert routes == set(ROUTE_CALLS), "a customer-data route has no audited call in ROUTE_CALLS"
    customer_id = create(client, tokens)
    for route in sorted(routes):
        method, path, body, action = ROUTE_CALLS[route]
        before = len(events(app))
        if body is not None:  # a body may name the customer too (a lookup's ids)
            body = json.loads(json.dumps(body).replace("{id}", customer_id))
        response = call(client, method, path.format(id=customer_id), tokens["sales"], "sales", body)
        assert response.status_code < 300, (route, response.get_json())
        new = events(app)[before:]
        assert [e.action for e in new] == [action], route
        assert new[0].purpose == "sales"
        assert new[0].request_id == response.headers["X-Request-ID"]
        if "{id}" in path or "{id}" in json.dumps(ROUTE_CALLS[route][2]):
            assert customer_id in new[0].customer_ids.split()
    everything = json.dumps([{k: str(v) for k, v in vars(e).items()} for e in events(app)])
    for value in ("Jeanne", "Dupont", "FR-1840375019042", "+442079460958", "Acme"):
        assert value not in everything
