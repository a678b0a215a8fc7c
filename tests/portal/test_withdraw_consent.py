"""A customer withdraws a consent through the portal (API.md §7, GDPR Art. 7(3)): after the
mailed code, at once; the consumer system that relied on it stops seeing the customer on its
next request, and is told (``consent.changed``)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import (
    SAMPLE_FIELDS,
    assert_problem,
    bearer,
    code_in,
    events,
    form_token,
    messages,
)
from vault import runtime
from vault.db import db
from vault.events.models import Event
from vault.governance.consent import record_consent

REQUESTS = "/privacy/requests"


def _consenting_customer(app: Flask) -> str:
    with app.app_context():
        store = runtime.customer_store()
        customer_id = store.create(SAMPLE_FIELDS, region="EU")
        record_consent(store, customer_id, purpose="marketing", granted=True, source="web")
        db.session.commit()
    return customer_id


def test_a_withdrawal_applies_at_once_after_the_code(
    app: Flask, client: FlaskClient, make_token: Callable[..., str]
) -> None:
    customer_id = _consenting_customer(app)
    mailing = bearer(make_token(role="marketing", name="mailer"), **{"X-Purpose": "marketing"})
    assert client.get(f"/api/v1/customers/{customer_id}", headers=mailing).status_code == 200

    withdraw = {"email": SAMPLE_FIELDS["email"], "type": "withdraw_consent",
                "purposes": ["marketing"]}  # fmt: skip
    asked = client.post(REQUESTS, json=withdraw)
    assert asked.status_code == 202
    request_id = asked.get_json()["id"]
    (message,) = messages(app)
    assert "the withdrawal of your consent" in str(message.get_body(("plain",)))
    done = client.post(f"{REQUESTS}/{request_id}/verify", json={"code": code_in(message)})
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert (body["status"], body["type"], body["purposes"]) == (
        "completed", "withdraw_consent", ["marketing"],
    )  # fmt: skip
    # the mailing system no longer sees the customer, and is told why
    assert client.get(f"/api/v1/customers/{customer_id}", headers=mailing).status_code == 404
    with app.app_context():
        told = db.session.execute(
            sa.select(Event.purpose, Event.data)
            .where(Event.type == "consent.changed", Event.customer_id == customer_id)
            .order_by(Event.seq)
        ).all()  # fmt: skip
    # given (when the customer signed up), then withdrawn
    withdrawn = [(purpose, '"granted":false' in data) for purpose, data in told]
    assert withdrawn == [("marketing", False), ("marketing", True)]
    (recorded,) = events(app, "privacy.withdraw_consent")
    assert (recorded.outcome, recorded.reason, recorded.customer_ids) == (
        "allowed", "marketing", customer_id,
    )  # fmt: skip
    consents = client.get(f"/api/v1/customers/{customer_id}/consents",
                          headers=bearer(make_token(role="sales", name="crm"),
                                         **{"X-Purpose": "sales"}))  # fmt: skip
    history = consents.get_json()["purposes"]["marketing"]["history"]
    assert (history[-1]["granted"], history[-1]["source"]) == (False, "privacy_portal")


def test_a_withdrawal_names_purposes_that_exist(app: Flask, client: FlaskClient) -> None:
    for purposes in ([], ["no_such_purpose"]):
        asked = {"email": SAMPLE_FIELDS["email"], "type": "withdraw_consent", "purposes": purposes}
        refused = client.post(REQUESTS, json=asked)
        body = assert_problem(refused, 422, "validation_failed")
        assert "purposes" in body["errors"]
    other = client.post(REQUESTS, json={"email": SAMPLE_FIELDS["email"], "type": "export",
                                        "purposes": ["marketing"]})  # fmt: skip
    assert_problem(other, 422, "validation_failed")
    assert messages(app) == []


def test_the_form_offers_the_consents_and_asks_for_one(client: FlaskClient) -> None:
    page = client.get("/privacy").get_data(as_text=True)
    assert 'value="withdraw_consent"' in page
    assert 'name="purposes" type="checkbox" value="marketing"' in page
    assert 'value="sales"' not in page  # a contract's purpose is not a consent
    assert "Marketing: offers and newsletters" in page  # named for the customer, not by code
    turkish = client.application.test_client().get("/privacy?lang=tr")  # (a cookie of its own)
    assert "Pazarlama: teklifler ve bültenler" in turkish.get_data(as_text=True)
    refused = client.post(REQUESTS, data={"email": SAMPLE_FIELDS["email"],
                                          "type": "withdraw_consent",
                                          "csrf_token": form_token(page)})  # fmt: skip
    assert refused.status_code == 422
    assert 'id="purposes-error">Choose the consents to withdraw.<' in refused.get_data(as_text=True)


def test_staff_file_only_exports_and_erasures(
    client: FlaskClient, make_token: Callable[..., str], app: Flask
) -> None:
    customer_id = _consenting_customer(app)
    officer = bearer(make_token(role="compliance_officer", name="legal"))
    filed = client.post("/api/v1/privacy-requests", headers=officer, json={
        "type": "withdraw_consent", "customer_id": customer_id, "channel": "phone",
        "identity_check": "callback_to_number_on_file"})  # fmt: skip
    assert_problem(filed, 422, "validation_failed")
