"""List cursors are opaque and signed: a page continues only from a cursor the vault gave
out for that list; a forged or altered one (a naive time, another list's, the unsigned form of
older versions) is a 422 naming ``cursor``, never a 500 or a query built from it."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS, assert_problem, bearer
from vault import runtime
from vault.api.audit import MAX_EVENT_ID
from vault.clock import FixedClock
from vault.crypto.cursors import CursorSigner
from vault.errors import ValidationFailed

NOT_OURS = {"cursor": ["is not a cursor this API returned"]}
WHEN = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def unsigned(*position: str) -> str:
    """A cursor of the form older versions gave out, with no signature."""
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def altered(cursor: str) -> str:
    payload, mac = cursor.split(".")
    return f"{payload}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


def test_a_cursor_round_trips_only_with_its_key_and_list() -> None:
    signer = CursorSigner(b"k" * 32)
    cursor = signer.encode("customers", WHEN, "cus_1")
    assert signer.decode("customers", cursor) == (WHEN, "cus_1")
    forged_payload = base64.urlsafe_b64encode(b'["2030-01-01T00:00:00+00:00","cus_9"]')
    for bad in (
        altered(cursor),
        forged_payload.decode().rstrip("=") + "." + cursor.split(".")[1],
        cursor + ".x",
        cursor.split(".")[0],
        unsigned(WHEN.isoformat(), "cus_1"),
        "garbage!",
        "é." + cursor.split(".")[1],
        "",
    ):
        with pytest.raises(ValidationFailed) as refused:
            signer.decode("customers", bad)
        assert refused.value.errors == NOT_OURS, bad
    for other in (CursorSigner(b"o" * 32).decode, lambda _l, c: signer.decode("users", c)):
        with pytest.raises(ValidationFailed):
            other("customers", cursor)
    with pytest.raises(ValueError, match="aware"):
        signer.encode("customers", WHEN.replace(tzinfo=None), "cus_1")


def test_a_signed_cursor_with_a_naive_time_is_refused_all_the_same() -> None:
    signer = CursorSigner(b"k" * 32)
    payload = json.dumps(["2026-01-01T12:00:00", "cus_1"]).encode()

    def encode(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    cursor = f"{encode(payload)}.{encode(signer._mac('customers', payload))}"
    with pytest.raises(ValidationFailed) as refused:
        signer.decode("customers", cursor)
    assert refused.value.errors == NOT_OURS


@pytest.fixture
def three_customers(client: FlaskClient, sales: dict[str, str], clock: FixedClock) -> list[str]:
    ids = []
    for n in range(3):
        clock.advance(seconds=1)
        fields = {**SAMPLE_FIELDS, "email": f"page{n}@example.org"}
        created = client.post(
            "/api/v1/customers", json={"fields": fields, "region": "EU"}, headers=sales
        )
        assert created.status_code == 201
        ids.append(created.get_json()["id"])
    return ids


def test_pages_of_customers_follow_their_signed_cursor(
    client: FlaskClient, sales: dict[str, str], three_customers: list[str]
) -> None:
    first = client.get("/api/v1/customers?limit=2", headers=sales).get_json()
    cursor = first["next_cursor"]
    assert "." in cursor
    rest = client.get("/api/v1/customers", query_string={"cursor": cursor}, headers=sales)
    assert [c["id"] for c in first["items"] + rest.get_json()["items"]] == three_customers


@pytest.mark.parametrize(
    "cursor",
    [
        unsigned("2026-01-01T00:00:00", "cus_x"),  # a naive time: a 500 when unsigned
        unsigned("2026-01-01T00:00:00+00:00", "cus_x"),
        unsigned("9999-12-31T23:59:59-23:59", "cus_x"),
        unsigned("not a time", "cus_x"),
        "x" * 200,
    ],
    ids=["naive time", "aware time", "overflowing time", "not a time", "noise"],
)
def test_a_forged_customer_cursor_is_422(
    client: FlaskClient, sales: dict[str, str], three_customers: list[str], cursor: str
) -> None:
    response = client.get("/api/v1/customers", query_string={"cursor": cursor}, headers=sales)
    assert assert_problem(response, 422, "validation_failed")["errors"] == NOT_OURS


def test_an_altered_or_foreign_cursor_is_422(
    app: Flask, client: FlaskClient, sales: dict[str, str], three_customers: list[str]
) -> None:
    cursor = client.get("/api/v1/customers?limit=1", headers=sales).get_json()["next_cursor"]
    with app.test_request_context():
        foreign = runtime.cursor_signer().encode("privacy_requests", WHEN, three_customers[0])
    for bad in (altered(cursor), foreign):
        response = client.get("/api/v1/customers", query_string={"cursor": bad}, headers=sales)
        assert assert_problem(response, 422, "validation_failed")["errors"] == NOT_OURS


def test_a_forged_privacy_queue_cursor_is_422(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    officer = bearer(make_token(role="compliance_officer", name="desk"))
    cursor = unsigned("2026-01-01T00:00:00", "prq_x")
    response = client.get(
        "/api/v1/privacy-requests", query_string={"cursor": cursor}, headers=officer
    )
    assert assert_problem(response, 422, "validation_failed")["errors"] == NOT_OURS


def test_an_audit_cursor_is_a_position_the_database_can_hold(
    client: FlaskClient, officer: dict[str, str]
) -> None:
    last = client.get("/api/v1/audit/events", query_string={"cursor": MAX_EVENT_ID},
                      headers=officer)  # fmt: skip
    assert last.status_code == 200, last.get_json()
    for beyond in (MAX_EVENT_ID + 1, 10**23):
        response = client.get(
            "/api/v1/audit/events", query_string={"cursor": beyond}, headers=officer
        )
        assert list(assert_problem(response, 422, "validation_failed")["errors"]) == ["cursor"]
