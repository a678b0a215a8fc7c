"""The governed read's road through the database: a warm ``GET /api/v1/customers/{id}`` checks
visibility and fetches the row in one SELECT of the customers table (and an invisible
customer costs that one SELECT too, then a 404); a search by email finds and reads in one
SELECT too, and so does a page of the listing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from tests.helpers import SAMPLE_FIELDS
from vault.db import db

_FROM_CUSTOMERS = re.compile(r"\bFROM customers\b", re.IGNORECASE)


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """Every statement the app's engine runs while the test goes on."""
    seen: list[str] = []

    def hear(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", hear)
    yield seen
    event.remove(engine, "before_cursor_execute", hear)


def customer_selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")
            and _FROM_CUSTOMERS.search(s)]  # fmt: skip


def test_a_warm_read_selects_the_customer_row_once(
    client: FlaskClient, sales: dict[str, str], customer_id: str, statements: list[str]
) -> None:
    assert client.get(f"/api/v1/customers/{customer_id}", headers=sales).status_code == 200
    statements.clear()  # warm: plans, catalogue and the token's client are known now
    response = client.get(f"/api/v1/customers/{customer_id}", headers=sales)
    assert response.status_code == 200
    assert response.get_json()["id"] == customer_id
    assert len(customer_selects(statements)) == 1, statements


def test_an_invisible_customer_costs_the_same_select_and_is_a_404(
    client: FlaskClient, sales: dict[str, str], customer_id: str, statements: list[str]
) -> None:
    client.get(f"/api/v1/customers/{customer_id}", headers=sales)
    statements.clear()
    response = client.get("/api/v1/customers/cus_" + "0" * 32, headers=sales)
    assert response.status_code == 404
    assert len(customer_selects(statements)) == 1, statements


def test_a_warm_search_finds_and_reads_in_one_select(
    client: FlaskClient, sales: dict[str, str], customer_id: str, statements: list[str]
) -> None:
    search = {"email": SAMPLE_FIELDS["email"].upper()}  # found whatever its case
    client.post("/api/v1/customers/search", json=search, headers=sales)
    statements.clear()
    response = client.post("/api/v1/customers/search", json=search, headers=sales)
    assert response.status_code == 200
    assert [item["id"] for item in response.get_json()["items"]] == [customer_id]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")
             and "change_counters" not in s]  # fmt: skip
    assert len(reads) == 1, statements
    assert "blind_indexes" in reads[0]


def test_a_warm_page_lists_and_reads_in_one_select(
    client: FlaskClient, sales: dict[str, str], customer_id: str, statements: list[str]
) -> None:
    second = client.post("/api/v1/customers", headers=sales, json={
        "fields": {**SAMPLE_FIELDS, "email": "second@example.org"}, "region": "EU"})  # fmt: skip
    assert second.status_code == 201
    first_page = client.get("/api/v1/customers?limit=1", headers=sales).get_json()
    statements.clear()
    response = client.get(f"/api/v1/customers?limit=1&cursor={first_page['next_cursor']}",
                          headers=sales)  # fmt: skip
    assert response.status_code == 200
    ids = [first_page["items"][0]["id"], *(item["id"] for item in response.get_json()["items"])]
    # both, once each, across the cursor (created at the same moment of the test's clock,
    # they come in id order)
    assert ids == sorted([customer_id, second.get_json()["id"]])
    emails = {"second@example.org", SAMPLE_FIELDS["email"].lower()}
    assert response.get_json()["items"][0]["fields"]["email"]["value"].lower() in emails
    assert len(customer_selects(statements)) == 1, statements
