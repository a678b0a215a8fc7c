"""The Python client (clients/python, ``vault_client``) against a served vault, as a consumer
system uses it: purpose per call, pages as iterators, ETag and If-Match, batch and lookup,
problem+json errors as exceptions, the events feed; its retries (with one Idempotency-Key for
every attempt of a create) and its webhook check."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from flask import Flask
from vault_client import (
    Conflict,
    Event,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    VaultClient,
    WebhookInvalid,
    verify_webhook,
)

from tests.helpers import SAMPLE_FIELDS
from tests.support.served import served_vault
from vault.auth.service import create_api_client
from vault.clock import FixedClock
from vault.db import db
from vault.events.sender import Attempt, Sender
from vault.events.subscriptions import new_secret

pytestmark = pytest.mark.slow


def _token(app: Flask, clock: FixedClock, name: str, role: str) -> str:
    with app.app_context(), db.transaction() as session:
        _client, token = create_api_client(session, name=name, role=role, now=clock.now())
    return token


def test_the_client_against_a_served_vault(
    make_app: Callable[..., Flask], tmp_path: Path, clock: FixedClock
) -> None:
    app = make_app()
    token = _token(app, clock, "crm", "sales")
    relay_fast = {"VAULT_EVENTS_RELAY_SECONDS": "0.1"}  # the relay numbers the feed's events
    with served_vault(app, tmp_path / "serve.log", **relay_fast) as url, \
            VaultClient(url, token, purpose="sales") as vault:  # fmt: skip
        assert vault.me()["name"] == "crm"
        created = vault.create_customer(SAMPLE_FIELDS, region="EU", idempotency_key="crm-1")
        assert created.id.startswith("cus_")
        assert created.value("email").lower() == SAMPLE_FIELDS["email"].lower()
        # a retry with the key is the same customer, not a second one
        again = vault.create_customer(SAMPLE_FIELDS, region="EU", idempotency_key="crm-1")
        assert again.id == created.id

        read = vault.get_customer(created.id)
        assert read.etag
        assert read.fields["email"].transform == "none"
        changed = vault.update_customer(created.id, {"company": "Acme"}, if_match=read.etag)
        assert changed.value("company") == "Acme"
        assert changed.etag != read.etag
        with pytest.raises(PreconditionFailed) as stale:
            vault.update_customer(created.id, {"company": "Beta"}, if_match=read.etag)
        assert stale.value.code == "precondition_failed"
        assert stale.value.request_id

        with pytest.raises(Conflict) as duplicate:
            vault.create_customer(SAMPLE_FIELDS, region="EU")
        assert duplicate.value.existing_id == created.id
        with pytest.raises(ValidationFailed) as invalid:
            vault.create_customer({"email": "not an address"}, region="EU")
        assert invalid.value.errors
        assert "not an address" not in str(invalid.value)
        with pytest.raises(NotFound):
            vault.get_customer("cus_" + "0" * 32)
        with pytest.raises(Forbidden) as refused:
            vault.get_customer(created.id, purpose="billing")
        assert refused.value.code == "purpose_not_allowed"

        batch = vault.create_customers(
            [{"fields": {**SAMPLE_FIELDS, "email": f"c{i}@example.org"}, "region": "EU"}
             for i in range(5)]
            + [{"fields": {**SAMPLE_FIELDS, "email": "c0@example.org"}, "region": "EU"}]
        )  # fmt: skip
        assert [item.ok for item in batch] == [True] * 5 + [False], [i.error for i in batch]
        assert isinstance(batch[5].error, Conflict)
        ids = [created.id] + [item.customer.id for item in batch if item.customer]
        # every page, followed by the iterator (a batch's customers share their time of
        # creation, and go by id)
        listed = [c.id for c in vault.customers(page_size=2)]
        assert sorted(listed) == sorted(ids)
        assert listed[0] == created.id
        found = vault.lookup_customers([ids[3], "cus_" + "0" * 32, ids[1]])
        assert [c.id for c in found] == [ids[3], ids[1]]
        (searched,) = vault.search_customers(email="c2@example.org")
        assert searched.id == ids[3]
        with pytest.raises(ValueError, match="purpose"):
            VaultClient(url, token).get_customer(created.id)

        # the feed tells this client of the customers it created
        deadline = time.monotonic() + 20
        told: list[Event] = []
        while len(told) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.2)
            told = [e for e in vault.events() if e.type == "customer.created"]
        assert {e.customer_id for e in told} == set(ids)
        assert all(e.fields for e in told)
        page, cursor = vault.feed_page()
        assert cursor
        assert vault.feed_page(after=cursor)[0] == []
        assert vault.ack_event(page[0].id)["event_id"] == page[0].id


def test_a_create_is_retried_with_one_key() -> None:
    """A 503 and a lost connection, then the answer: three attempts, one Idempotency-Key."""
    keys: list[str | None] = []
    answers = iter(["503", "drop", "201"])

    def answer(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("Idempotency-Key"))
        assert request.headers["X-Purpose"] == "sales"
        assert request.headers["Authorization"] == "Bearer t"
        step = next(answers)
        if step == "503":
            return httpx.Response(503, headers={"Retry-After": "0"},
                                  json={"code": "database_unavailable", "status": 503})  # fmt: skip
        if step == "drop":
            raise httpx.ConnectError("connection refused", request=request)
        email = {"value": "a", "transform": "none"}
        return httpx.Response(201, json={"id": "cus_1", "region": "EU", "withheld": [],
                                         "fields": {"email": email}})  # fmt: skip

    client = VaultClient("http://vault.test", "t", purpose="sales", backoff=0,
                         transport=httpx.MockTransport(answer))  # fmt: skip
    assert client.create_customer({"email": "a"}, region="EU").id == "cus_1"
    assert len(keys) == 3
    assert keys[0]
    assert len(set(keys)) == 1
    # an update is not retried
    unavailable = httpx.MockTransport(lambda _r: httpx.Response(503, json={"code": "unavailable"}))
    client = VaultClient("http://vault.test", "t", purpose="sales", backoff=0,
                         transport=unavailable)  # fmt: skip
    with pytest.raises(Exception, match="503") as failed:
        client.update_customer("cus_1", {"company": "Acme"})
    assert type(failed.value).__name__ == "Unavailable"


def test_a_webhook_signed_by_the_vault_verifies() -> None:
    secret = new_secret()
    body = json.dumps({"id": "evt_1", "type": "customer.erased", "customer_id": "cus_1",
                       "occurred_at": "2026-12-08T10:00:00+00:00", "fields": [],
                       "purpose": None, "data": {"cause": "privacy_request"}}).encode()  # fmt: skip
    sender = Sender(connect_timeout=1, timeout=1, allow_link_local=False)
    try:
        attempt = Attempt(delivery_id=1, subscription_id="sub_1", url="http://127.0.0.1/",
                          event_id="evt_1", body=body, secret=secret, attempts=0,
                          created_at=dt.datetime.now(dt.UTC))  # fmt: skip
        headers = sender.headers(attempt, dt.datetime.now(dt.UTC))
        stale = sender.headers(attempt, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    finally:
        sender.close()
    event = verify_webhook(secret, body, headers)
    assert (event.id, event.type, event.customer_id) == ("evt_1", "customer.erased", "cus_1")
    with pytest.raises(WebhookInvalid):
        verify_webhook(secret, body.replace(b"cus_1", b"cus_2"), headers)
    with pytest.raises(WebhookInvalid):
        verify_webhook(new_secret(), body, headers)
    with pytest.raises(WebhookInvalid):
        verify_webhook(secret, body, stale)
