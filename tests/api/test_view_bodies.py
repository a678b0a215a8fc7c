"""A governed view's answer is built without marshmallow (``view_body``); the schema that
documents it must dump the very same body."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS, bearer
from vault.api.schemas import CustomerPageSchema, CustomerViewSchema, view_body

ENDED = dt.datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=dt.UTC)
VIEWS: list[dict[str, Any]] = [
    {"id": "cus_1", "region": "EU", "values": {}, "withheld": [], "relationship_ended_at": None},
    {
        "id": "cus_2",
        "region": "US",
        "values": {
            "given_name": {"value": "Zeynep", "transform": "none"},
            "interests": {"value": ["wine", "yoga"], "transform": "none"},
            "national_id": {"value": "***8558", "transform": "last4"},
            "birth_date": {"value": "1984", "transform": "year"},
            "company": {"value": None, "transform": "redact"},
        },
        "withheld": ["email", "phone"],
        "relationship_ended_at": ENDED,
    },
    {"id": "cus_3", "region": "EU", "values": {}, "withheld": ["email"],
     "relationship_ended_at": ENDED.astimezone(dt.timezone(dt.timedelta(hours=3)))},
]  # fmt: skip


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v["id"])
def test_a_view_body_is_what_its_schema_dumps(view: dict[str, Any]) -> None:
    assert view_body(view) == CustomerViewSchema().dump(view)


def test_a_page_body_is_what_its_schema_dumps() -> None:
    page = {"items": VIEWS, "next_cursor": "abc"}
    assert {"items": [view_body(v) for v in VIEWS], "next_cursor": "abc"} == (
        CustomerPageSchema().dump(page)
    )


def test_every_customer_answer_has_the_documented_shape(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    sales = bearer(make_token(), **{"X-Purpose": "sales"})
    created = client.post("/api/v1/customers", headers=sales,
                          json={"fields": SAMPLE_FIELDS, "region": "EU"})  # fmt: skip
    assert created.status_code == 201
    customer_id = created.get_json()["id"]
    ended = {"relationship_ended_at": "2026-01-01T10:00:00+00:00", "fields": {}}
    answers = [
        created,
        client.get(f"/api/v1/customers/{customer_id}", headers=sales),
        client.patch(f"/api/v1/customers/{customer_id}", headers=sales, json=ended),
    ]
    for answer in answers:
        assert answer.is_json
        body = answer.get_json()
        # it reads back under its schema (which raises on a wrong shape) to the same body
        assert view_body(CustomerViewSchema().load(body)) == body
        assert set(body) == {"id", "region", "fields", "withheld", "relationship_ended_at"}
    assert answers[-1].get_json()["relationship_ended_at"] == "2026-01-01T10:00:00+00:00"
    for listing in (
        client.get("/api/v1/customers?limit=5", headers=sales),
        client.post("/api/v1/customers/search", headers=sales,
                    json={"email": SAMPLE_FIELDS["email"]}),
    ):  # fmt: skip
        assert listing.status_code == 200
        body = listing.get_json()
        assert [item["id"] for item in body["items"]] == [customer_id]
        assert set(body) == {"items", "next_cursor"}
