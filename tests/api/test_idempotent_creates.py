"""``Idempotency-Key`` on creating POSTs (API.md §2): the same key and request within 24 h
answers the first answer again and creates nothing; the key with another request is a 422;
keys are per client; a failed request keeps nothing; the kept answer is sealed and goes when
its customer is erased."""

from __future__ import annotations

import concurrent.futures
import json
import threading
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import SAMPLE_FIELDS, Tokens, assert_problem, bearer, events
from vault import runtime
from vault.auth.service import create_api_client
from vault.clock import FixedClock
from vault.db import db
from vault.governance.erasure import erase_customers, lock_erasable
from vault.idempotency.models import IdempotentAnswer, answer_customers
from vault.services import idempotent_answers


def _create(client: FlaskClient, token: str, key: str | None, **changes: Any) -> TestResponse:
    body = {"fields": {**SAMPLE_FIELDS, **changes.pop("fields", {})}, "region": "EU", **changes}
    headers = bearer(token, **{"X-Purpose": "sales"})
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/customers", json=body, headers=headers)


def _customers(client: FlaskClient, token: str) -> list[str]:
    headers = bearer(token, **{"X-Purpose": "sales"})
    page = client.get("/api/v1/customers?limit=500", headers=headers)
    return [item["id"] for item in page.get_json()["items"]]


def _answers(app: Flask) -> list[IdempotentAnswer]:
    with app.app_context():
        return list(db.session.scalars(sa.select(IdempotentAnswer)))


def test_a_retry_with_the_key_gets_the_first_answer_and_creates_nothing(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    first = _create(client, tokens["sales"], "order-4711")
    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    again = _create(client, tokens["sales"], "order-4711")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.mimetype == "application/json"
    assert _customers(client, tokens["sales"]) == [first.get_json()["id"]]
    # the same body, spelt otherwise (key order, spacing), is the same request
    spelt = client.post(
        "/api/v1/customers",
        data='{"region": "EU",   "fields": ' + _fields_text() + "}",
        headers=bearer(tokens["sales"], **{"X-Purpose": "sales", "Idempotency-Key": "order-4711",
                                           "Content-Type": "application/json"}),
    )  # fmt: skip
    assert spelt.status_code == 201
    assert spelt.get_json()["id"] == first.get_json()["id"]
    # a replay hands the data out again: it is audited, naming the customer
    replays = events(app, action="request.replayed")
    assert len(replays) == 2
    assert {e.customer_ids for e in replays} == {first.get_json()["id"]}
    assert {e.reason for e in replays} == {"customers.post"}


def _fields_text() -> str:
    return json.dumps(dict(reversed(list(SAMPLE_FIELDS.items()))))


def test_the_key_with_another_request_is_refused_and_creates_nothing(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    first = _create(client, tokens["sales"], "k-1")
    assert first.status_code == 201
    other = _create(client, tokens["sales"], "k-1", fields={"email": "other@example.org"})
    body = assert_problem(other, 422, "idempotency_key_reused")
    assert "other@example.org" not in str(body)
    assert _customers(client, tokens["sales"]) == [first.get_json()["id"]]
    (refusal,) = events(app, action="customers.post", outcome="denied")
    assert refusal.reason == "idempotency_key_reused"
    # another purpose is another request too
    consents = client.post(
        "/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
        headers=bearer(tokens["sales"], **{"X-Purpose": "support", "Idempotency-Key": "k-1"}),
    )  # fmt: skip
    assert consents.status_code in (403, 422)


def test_keys_are_per_client(client: FlaskClient, tokens: Tokens, make_token: Any) -> None:
    other_client = make_token(role="sales", name="crm-two")
    mine = _create(client, tokens["sales"], "shared-key")
    theirs = _create(client, other_client, "shared-key", fields={"email": "b@example.org"})
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.get_json()["id"] != theirs.get_json()["id"]


def test_a_failed_request_keeps_nothing_and_its_key_may_be_used_again(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    failed = _create(client, tokens["sales"], "k-2", fields={"email": "not an address"})
    assert_problem(failed, 422, "validation_failed")
    assert _answers(app) == []
    fixed = _create(client, tokens["sales"], "k-2")
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_key_is_kept_for_a_day(
    client: FlaskClient, tokens: Tokens, clock: FixedClock, app: Flask
) -> None:
    first = _create(client, tokens["sales"], "k-3")
    assert first.status_code == 201
    clock.advance(hours=23)
    assert _create(client, tokens["sales"], "k-3").headers.get("Idempotent-Replayed") == "true"
    clock.advance(hours=2)
    later = _create(client, tokens["sales"], "k-3", fields={"email": "later@example.org"})
    assert later.status_code == 201
    assert "Idempotent-Replayed" not in later.headers
    # the worker's purge deletes what is past its time
    clock.advance(hours=25)
    with app.app_context():
        assert idempotent_answers().purge() == 1
        db.session.commit()
    assert _answers(app) == []


def test_a_key_must_be_short_printable_ascii(client: FlaskClient, tokens: Tokens) -> None:
    for key in ("", "x" * 256, "schlüssel", "tab\there"):
        response = client.post(
            "/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
            headers=[("Authorization", f"Bearer {tokens['sales']}"), ("X-Purpose", "sales"),
                     ("Idempotency-Key", key.encode("utf-8").decode("latin-1"))],
        )  # fmt: skip
        assert_problem(response, 400, "idempotency_key_invalid")
    assert _customers(client, tokens["sales"]) == []


def test_the_kept_answer_is_sealed_and_goes_with_its_customer(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    created = _create(client, tokens["sales"], "k-4")
    customer = created.get_json()["id"]
    (kept,) = _answers(app)
    assert kept.answer is not None
    for value in SAMPLE_FIELDS.values():
        assert str(value).encode() not in kept.answer
    assert b"cus_" not in kept.answer
    with app.app_context():
        linked = db.session.execute(sa.select(answer_customers)).all()
        assert [tuple(row) for row in linked] == [(kept.id, customer)]
        store = runtime.customer_store()
        erasable = lock_erasable(db.session, [customer])
        erase_customers(db.session, store.keyring, erasable.free, now=runtime.now(),
                        anonymise=False, cause="privacy_request")  # fmt: skip
        db.session.commit()
    assert _answers(app) == []


def test_a_subscription_retried_gets_the_same_secret(client: FlaskClient, make_token: Any) -> None:
    admin = bearer(make_token(role="admin", name="ops"), **{"Idempotency-Key": "sub-1"})
    make_token(role="sales", name="crm")
    body = {"name": "crm-hook", "url": "https://crm.example.com/hooks", "client": "crm",
            "events": ["customer.erased"]}  # fmt: skip
    first = client.post("/api/v1/subscriptions", json=body, headers=admin)
    assert first.status_code == 201, first.get_json()
    again = client.post("/api/v1/subscriptions", json=body, headers=admin)
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    listed = client.get("/api/v1/subscriptions", headers=admin).get_json()["items"]
    assert len(listed) == 1


def test_every_creating_route_documents_the_key(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    creating = [
        (path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method == "post" and any(code in operation["responses"] for code in ("201", "207"))
    ]
    assert len(creating) >= 13
    for path, operation in creating:
        names = [p["name"] for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, path


def test_requests_racing_with_one_key_create_one_customer(
    two_workers: tuple[Flask, Flask], clock: FixedClock
) -> None:
    """Six requests with one key at once, through two workers: one customer. On PostgreSQL
    the later ones wait for the first and replay its answer; SQLite, which does not wait on
    rows, may tell one that the key is in use."""
    one, two = two_workers
    with one.app_context(), db.transaction() as session:
        _client, token = create_api_client(session, name="crm", role="sales", now=clock.now())
    barrier = threading.Barrier(6)

    def send(app: Flask) -> TestResponse:
        barrier.wait()
        return _create(app.test_client(), token, "race-1")

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, [one, two] * 3))
    created = [a for a in answers if a.status_code == 201]
    assert created
    assert {a.get_json()["id"] for a in created} == {created[0].get_json()["id"]}
    assert sum("Idempotent-Replayed" not in a.headers for a in created) == 1
    others = [a for a in answers if a.status_code != 201]
    if db.state(one).engine.dialect.name == "postgresql":
        assert others == []
    for other in others:
        assert_problem(other, 409, "idempotency_key_in_use")
    assert _customers(one.test_client(), token) == [created[0].get_json()["id"]]
