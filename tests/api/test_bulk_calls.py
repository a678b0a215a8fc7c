"""Bulk calls (API.md §6): ``POST /customers/batch`` creates each item alone and answers 207
with one result per item; ``POST /customers/lookup`` answers the scoped views of the ids the
caller may see, the others absent. Both are governed and audited like the single calls, with
one audit event per call naming every customer."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import SAMPLE_FIELDS, Tokens, assert_problem, bearer, events
from tests.helpers import create_customer as create
from vault.db import db
from vault.events.models import Event


def _post(client: FlaskClient, token: str, path: str, body: Any,
          purpose: str = "sales") -> TestResponse:  # fmt: skip
    return client.post(f"/api/v1/customers/{path}", json=body,
                       headers=bearer(token, **{"X-Purpose": purpose}))  # fmt: skip


def _sales(tokens: Tokens) -> dict[str, str]:
    return bearer(tokens["sales"], **{"X-Purpose": "sales"})


def _item(email: str, **changes: Any) -> dict[str, Any]:
    return {"fields": {**SAMPLE_FIELDS, "email": email, **changes.pop("fields", {})},
            "region": "EU", **changes}  # fmt: skip


def test_a_batch_creates_each_item_alone(app: Flask, client: FlaskClient, tokens: Tokens) -> None:
    items = [
        _item("one@example.org"),
        _item("one@example.org"),  # a duplicate of the first
        _item("not an address"),
        _item("two@example.org", fields={"shoe_size": "44"}),  # no such field
        _item("three@example.org", consents=[{"purpose": "marketing", "granted": True}]),
        _item("four@example.org"),
    ]
    response = _post(client, tokens["sales"], "batch", {"items": items})
    assert response.status_code == 207, response.get_json()
    results = response.get_json()["items"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r["status"] for r in results] == [201, 409, 422, 422, 403, 201]
    first, duplicate, invalid, unknown, refused, last = results
    assert first["id"].startswith("cus_")
    assert first["customer"]["id"] == first["id"]
    assert first["customer"]["fields"]["email"]["value"] == "one@example.org"
    assert duplicate["code"] == "duplicate_customer"
    assert duplicate["existing_id"] == first["id"]  # sales may see the holder
    assert duplicate["type"].endswith("duplicate_customer")
    assert invalid["code"] == "validation_failed"
    assert "fields.email" in invalid["errors"] or "email" in invalid["errors"]
    assert "not an address" not in str(invalid)
    assert unknown["code"] == "validation_failed"
    assert refused["code"] in ("forbidden", "purpose_not_allowed")
    assert {"id", "customer"}.isdisjoint(refused)
    # exactly the two created exist, each told to consumer systems once
    listed = client.get("/api/v1/customers", headers=_sales(tokens))
    assert sorted(c["id"] for c in listed.get_json()["items"]) == sorted([first["id"], last["id"]])
    with app.app_context():
        told: list[str | None] = list(
            db.session.scalars(sa.select(Event.customer_id).where(Event.type == "customer.created"))
        )
    assert sorted(str(t) for t in told) == sorted([first["id"], last["id"]])
    # one event names every customer created; one refusal counts the refused items
    (created,) = events(app, action="customer.create", outcome="allowed")
    assert sorted(created.customer_ids.split()) == sorted([first["id"], last["id"]])
    assert created.reason == "batch"
    (refusal,) = events(app, action="customer.create", outcome="denied")
    assert refusal.reason == (
        "batch:duplicate_customer=1,forbidden=1,validation_failed=2"
        if refused["code"] == "forbidden"
        else "batch:duplicate_customer=1,purpose_not_allowed=1,validation_failed=2"
    )
    assert refusal.customer_ids == first["id"]


def test_a_batch_is_bounded_and_its_envelope_checked(client: FlaskClient, tokens: Tokens) -> None:
    too_many = {"items": [_item(f"c{i}@example.org") for i in range(501)]}
    assert_problem(_post(client, tokens["sales"], "batch", too_many), 422, "validation_failed")
    assert_problem(_post(client, tokens["sales"], "batch", {"items": []}), 422, "validation_failed")
    assert_problem(_post(client, tokens["sales"], "batch", {"items": ["x"]}), 422,
                   "validation_failed")  # fmt: skip
    assert_problem(_post(client, tokens["sales"], "batch", [_item("a@example.org")]), 422,
                   "validation_failed")  # fmt: skip
    missing = client.post("/api/v1/customers/batch", json={"items": [_item("a@example.org")]},
                          headers=bearer(tokens["sales"]))  # fmt: skip
    assert_problem(missing, 400, "purpose_required")
    listed = client.get("/api/v1/customers", headers=_sales(tokens))
    assert listed.get_json()["items"] == []


def test_a_batch_in_another_region_is_refused_item_by_item(
    client: FlaskClient, tokens: Tokens
) -> None:
    items = [_item("eu@example.org"), _item("us@example.org", region="US")]
    response = _post(client, tokens["sales_us"], "batch", {"items": items})
    assert response.status_code == 207
    assert [r["status"] for r in response.get_json()["items"]] == [403, 201]


def test_a_batch_with_an_idempotency_key_is_replayed(client: FlaskClient, tokens: Tokens) -> None:
    headers = bearer(tokens["sales"], **{"X-Purpose": "sales", "Idempotency-Key": "import-7"})
    body = {"items": [_item("a@example.org"), _item("b@example.org")]}
    first = client.post("/api/v1/customers/batch", json=body, headers=headers)
    again = client.post("/api/v1/customers/batch", json=body, headers=headers)
    assert first.status_code == again.status_code == 207
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_lookup_answers_the_visible_in_the_order_asked(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    first = create(client, tokens, fields={"email": "first@example.org"})
    second = create(client, tokens, fields={"email": "second@example.org"})
    unknown = "cus_" + "0" * 32
    response = _post(client, tokens["sales"], "lookup", {"ids": [second, unknown, first, second]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [view["id"] for view in body["items"]] == [second, first]
    assert body["items"][0]["fields"]["email"]["value"] == "second@example.org"
    (read,) = events(app, action="customer.read", outcome="allowed")
    assert read.reason == "lookup"
    assert sorted(read.customer_ids.split()) == sorted([second, first])
    (absent,) = events(app, action="customer.read", outcome="denied")
    assert absent.customer_ids == unknown
    assert absent.reason == "lookup:not_visible"
    for event in events(app):
        assert "example.org" not in f"{event.customer_ids} {event.field_names} {event.reason}"


def test_a_lookup_follows_the_row_rules(
    client: FlaskClient, tokens: Tokens, optin_token: str
) -> None:
    opted_in = _item("yes@example.org", consents=[{"purpose": "marketing", "granted": True}])
    consenting = client.post("/api/v1/customers", json=opted_in,
                             headers=bearer(optin_token, **{"X-Purpose": "sales"}))  # fmt: skip
    assert consenting.status_code == 201, consenting.get_json()
    consenting_id = consenting.get_json()["id"]
    silent = create(client, tokens, fields={"email": "no@example.org"})
    response = _post(client, tokens["marketing"], "lookup", {"ids": [silent, consenting_id]},
                     purpose="marketing")  # fmt: skip
    assert [view["id"] for view in response.get_json()["items"]] == [consenting_id]
    # an EU customer is absent for a US-only client
    us_only = _post(client, tokens["sales_us"], "lookup", {"ids": [silent]})
    assert us_only.status_code == 200
    assert us_only.get_json()["items"] == []


def test_a_lookup_is_bounded_and_its_ids_checked(client: FlaskClient, tokens: Tokens) -> None:
    bodies: list[Any] = [
        {"ids": []}, {"ids": ["cus_x"] * 501}, {"ids": ["not/an id"]}, {"ids": "cus_x"}, {},
    ]  # fmt: skip
    for body in bodies:
        assert_problem(_post(client, tokens["sales"], "lookup", body), 422, "validation_failed")
    assert_problem(
        client.post("/api/v1/customers/lookup", json={"ids": ["cus_x"]},
                    headers=bearer(tokens["sales"])),
        400, "purpose_required",
    )  # fmt: skip
