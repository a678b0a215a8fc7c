"""One input boundary for text: a NUL, an unpaired surrogate, another control character or a
bidirectional override anywhere a client sends text (JSON body, path id, query string,
X-Purpose, admin and portal forms) is a 422 naming the field, before any service or the
database sees it. Long prose may hold tabs and line breaks; nothing else may."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import (
    PASSWORD,
    SAMPLE_FIELDS,
    assert_problem,
    bearer,
    form_token,
    log_in,
)
from vault.api.input_boundary import REFUSED, REFUSED_NAME
from vault.audit.models import AuditEvent
from vault.customers.models import Customer
from vault.db import db
from vault.governance.models import ConsentEvent, LegalHold
from vault.text import is_plain

MARK = "Zq7secret"  # stands beside the refused character: never echoed
REFUSED_CHARACTERS = {
    "NUL": "\x00",
    "unpaired surrogate": "\ud800",
    "escape": "\x1b",
    "line feed": "\n",
    "tab": "\t",
    "DEL": "\x7f",
    "C1 next line": "\x85",
    "right-to-left override": "\u202e",
    "first strong isolate": "\u2068",
}


@pytest.fixture
def callers(make_token: Callable[..., str], sales: dict[str, str]) -> dict[str, dict[str, str]]:
    return {
        "sales": sales,
        "support": bearer(make_token(role="support", name="desk"), **{"X-Purpose": "support"}),
        "officer": bearer(make_token(role="compliance_officer", name="legal")),
        "admin": bearer(make_token(role="admin", name="ops")),
    }


def bad(text: str, character: str) -> str:
    return f"{text}{character}{MARK}"


# (caller, method, path, JSON body, the field the 422 names); "{c}" is the refused character
# and "{id}" the customer's id
CASES: list[tuple[str, str, str, Any, str]] = [
    ("sales", "GET", "/api/v1/customers/cus_{c}", None, "customer_id"),
    ("sales", "PATCH", "/api/v1/customers/{id}", {"fields": {"job_title": "CTO{c}"}},
     "fields.job_title"),
    ("sales", "POST", "/api/v1/customers",
     {"fields": {**SAMPLE_FIELDS, "company": "Acme{c}"}, "region": "EU"}, "fields.company"),
    ("sales", "POST", "/api/v1/customers",
     {"fields": {**SAMPLE_FIELDS, "interests": ["sailing", "x{c}"]}, "region": "EU"},
     "fields.interests.1"),
    ("sales", "POST", "/api/v1/customers/{id}/consents",
     {"purpose": "sales{c}", "granted": False}, "purpose"),
    ("sales", "POST", "/api/v1/customers/{id}/consents",
     {"purpose": "sales", "granted": False, "source": "web{c}"}, "source"),
    ("sales", "POST", "/api/v1/customers/{id}/consents",
     {"purpose": "sales", "granted": False, "notice_version": "v1{c}"}, "notice_version"),
    ("sales", "POST", "/api/v1/customers/{id}/interactions",
     {"kind": "purchase", "channel": "web{c}"}, "channel"),
    ("sales", "POST", "/api/v1/customers/search", {"email": "a{c}@example.org"}, "email"),
    ("officer", "POST", "/api/v1/legal-holds", {"customer_id": "{id}{c}", "reason": "court"},
     "customer_id"),
    ("officer", "GET", "/api/v1/audit/events?actor=cli{c}", None, "actor"),
    ("officer", "GET", "/api/v1/audit/events?action=customer.read&purpose=sales{c}", None,
     "purpose"),
    ("admin", "GET", "/api/v1/policies/explain?role=sales{c}&purpose=sales", None, "role"),
    ("admin", "POST", "/api/v1/purposes",
     {"code": "research", "legal_basis": "consent", "description": "Studies{c}"},
     "description"),
    ("admin", "POST", "/api/v1/roles", {"name": "auditor", "description": "Reads{c}"},
     "description"),
]  # fmt: skip


def fill(template: Any, character: str, customer_id: str) -> Any:
    if isinstance(template, str):
        return template.replace("{c}", character + MARK).replace("{id}", customer_id)
    if isinstance(template, dict):
        return {k: fill(v, character, customer_id) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, character, customer_id) for v in template]
    return template


def url_quoted(path: str) -> str:
    """The path with the refused characters percent-encoded, as a client sends them."""
    return quote(path, safe="/?&=:.")


def refused_inputs() -> list[Any]:
    """Every case with every refused character, but for an unpaired surrogate in a URL: a URL
    carries UTF-8, in which no unpaired surrogate can be written."""
    return [
        pytest.param(*case, character, id=f"{case[1]} {case[2]} {case[4]} {name}")
        for case in CASES
        for name, character in REFUSED_CHARACTERS.items()
        if not (character == "\ud800" and case[3] is None)
    ]


@pytest.mark.parametrize(("caller", "method", "path", "body", "field", "character"),
                         refused_inputs())  # fmt: skip
def test_text_that_is_not_plain_is_422_naming_the_field(
    client: FlaskClient, app: Flask, callers: dict[str, dict[str, str]], customer_id: str,
    caller: str, method: str, path: str, body: Any, field: str, character: str,
) -> None:  # fmt: skip
    before = table_sizes(app)
    response = client.open(
        url_quoted(fill(path, character, customer_id)),
        method=method,
        json=fill(body, character, customer_id),
        headers=callers[caller],
    )
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == {field: [REFUSED]}
    assert MARK not in response.get_data(as_text=True)
    assert table_sizes(app) == before


def table_sizes(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (Customer, ConsentEvent, LegalHold)
        }


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x85", "\t"])
def test_x_purpose_must_be_plain_text(
    client: FlaskClient, callers: dict[str, dict[str, str]], character: str
) -> None:
    headers = {**callers["sales"], "X-Purpose": bad("sales", character)}
    response = client.get("/api/v1/customers", headers=headers)
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == {"X-Purpose": [REFUSED]}
    assert MARK not in response.get_data(as_text=True)


def test_names_must_be_plain_text_too(
    client: FlaskClient, callers: dict[str, dict[str, str]]
) -> None:
    body = {"fields": {bad("given_name", "\u202e"): "Jeanne"}, "region": "EU"}
    response = client.post("/api/v1/customers", json=body, headers=callers["sales"])
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == {"fields": [REFUSED_NAME]}
    query = client.get("/api/v1/customers?li%00mit=2", headers=callers["sales"])
    assert assert_problem(query, 422, "validation_failed")["errors"] == {"_query": [REFUSED_NAME]}
    top = client.post("/api/v1/customers", json={"re\x00gion": "EU"}, headers=callers["sales"])
    assert assert_problem(top, 422, "validation_failed")["errors"] == {"_schema": [REFUSED_NAME]}


def test_prose_may_hold_tabs_and_line_breaks_and_nothing_else(
    client: FlaskClient, callers: dict[str, dict[str, str]], customer_id: str
) -> None:
    path = f"/api/v1/customers/{customer_id}/interactions"
    prose = "Kiln arrived cracked.\r\n\tThe customer wants a refund.\n"
    ticket = {"kind": "support_ticket", "channel": "phone", "text": prose}
    added = client.post(path, json=ticket, headers=callers["support"])
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["text"] == prose
    for character in ("\x00", "\ud800", "\x1b", "\x85", "\u202e"):
        refused = client.post(
            path, json={**ticket, "text": bad("Kiln", character)}, headers=callers["support"]
        )
        assert assert_problem(refused, 422, "validation_failed")["errors"] == {"text": [REFUSED]}
    for character in ("\x00", "\ud800", "\x0b", "\u2066"):
        refused = client.post(
            "/api/v1/legal-holds",
            json={"customer_id": customer_id, "reason": bad("Court", character)},
            headers=callers["officer"],
        )
        assert assert_problem(refused, 422, "validation_failed")["errors"] == {"reason": [REFUSED]}
    hold = {"customer_id": customer_id, "reason": "Court order 2026/114:\npreserve all records"}
    placed = client.post("/api/v1/legal-holds", json=hold, headers=callers["officer"])
    assert placed.status_code == 201, placed.get_json()
    assert placed.get_json()["reason"] == hold["reason"]


def test_a_refusal_at_the_boundary_is_recorded_naming_the_customer(
    client: FlaskClient, app: Flask, callers: dict[str, dict[str, str]], customer_id: str
) -> None:
    body = {"purpose": "sales", "granted": False, "notice_version": bad("v1", "\x00")}
    response = client.post(
        f"/api/v1/customers/{customer_id}/consents", json=body, headers=callers["sales"]
    )
    assert_problem(response, 422, "validation_failed")
    with app.app_context():
        (event,) = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.request_id == response.headers["X-Request-ID"])
        )
    assert (event.outcome, event.reason, event.customer_ids) == (
        "denied", "validation_failed", customer_id
    )  # fmt: skip
    assert event.actor_kind == "client"
    assert MARK not in str(vars(event))


def test_admin_forms_are_behind_the_same_boundary(
    client: FlaskClient, app: Flask, make_user: Callable[..., str], customer_id: str
) -> None:
    make_user("officer@example.com", roles=("compliance_officer",))
    assert log_in(client, "officer@example.com", PASSWORD).status_code == 302
    token = form_token(client.get("/admin/retention").get_data(as_text=True))
    form = {"csrf_token": token, "customer_id": customer_id, "reason": bad("Court", "\x00")}
    before = table_sizes(app)
    refused = client.post("/admin/legal-holds", data=form)
    assert refused.status_code == 422
    assert "text/html" in refused.content_type
    assert MARK not in refused.get_data(as_text=True)
    assert table_sizes(app) == before
    prose = {**form, "reason": "Court order 2026/114:\r\npreserve all records"}
    assert client.post("/admin/legal-holds", data=prose).status_code == 302
    assert table_sizes(app)["LegalHold"] == before["LegalHold"] + 1
    search = client.get(f"/admin/audit?actor={bad('cli', '%00')}")
    assert search.status_code == 422


def test_the_privacy_portal_is_behind_the_same_boundary(client: FlaskClient) -> None:
    as_json = client.post("/privacy/requests", json={"email": bad("a@example.org", "\x00"),
                                                    "type": "export"})  # fmt: skip
    assert assert_problem(as_json, 422, "validation_failed")["errors"] == {"email": [REFUSED]}
    as_form = client.post("/privacy/requests", data={"email": bad("a@example.org", "\x1b"),
                                                     "type": "export"})  # fmt: skip
    assert as_form.status_code == 422
    assert MARK not in as_form.get_data(as_text=True)
    status = client.get("/privacy/requests/prq_%00x", headers={"Accept": "application/json"})
    problem = assert_problem(status, 422, "validation_failed")
    assert problem["errors"] == {"request_id": [REFUSED]}


def test_what_plain_text_is() -> None:
    assert is_plain("Jeanne Dupont-Ecclestone, 14 Rue des Lilas; 75019 Paris")
    assert is_plain("مرحبا بالعالم — ½ € 🙂 \u200d")  # right-to-left script, emoji, joiner
    assert is_plain("two\r\n\tlines", prose=True)
    for character in REFUSED_CHARACTERS.values():
        assert not is_plain(f"a{character}b")
        assert is_plain(f"a{character}b", prose=True) == (character in "\t\n")
