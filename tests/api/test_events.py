"""Events for consumer systems (API.md §5): the outbox written with each change, who hears of
what, the pull feed and acknowledgements, subscriptions, and signed webhook deliveries that
are retried, kept in order per customer, and never carry a value."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook

from tests.helpers import SAMPLE_FIELDS, Tokens, assert_problem, bearer
from tests.support.receiver import Receiver, running_receiver
from vault import jobs, runtime
from vault.audit.service import AuditContext
from vault.auth.clients import revoke_client
from vault.auth.models import ApiClient
from vault.clock import FixedClock
from vault.db import db
from vault.events.pacing import Holdoff
from vault.governance.consent import record_consent
from vault.privacy.documents import signature_holds

EVENTS = "/api/v1/events"
SUBSCRIPTIONS = "/api/v1/subscriptions"
ALL_TYPES = ["consent.changed", "customer.created", "customer.erased", "customer.updated"]


def relay(app: Flask) -> dict[str, int]:
    with app.app_context():
        return jobs.relay(app.config["VAULT_SETTINGS"]).run_once()


def create(client: FlaskClient, headers: dict[str, str], **changes: Any) -> str:
    body = {"fields": {**SAMPLE_FIELDS, **changes.pop("fields", {})}, "region": "EU", **changes}
    response = client.post("/api/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def feed(client: FlaskClient, token: str, after: str | None = None) -> dict[str, Any]:
    query = f"?after={after}" if after else ""
    response = client.get(EVENTS + query, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def kinds(page: dict[str, Any], customer_id: str | None = None) -> list[str]:
    return [e["type"] for e in page["items"] if customer_id in (None, e["customer_id"])]


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token(role="admin", name="ops"))


def test_each_change_writes_its_event_and_the_feed_gives_them_in_order(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    customer_id = create(client, sales)
    changed = client.patch(f"/api/v1/customers/{customer_id}",
                           json={"fields": {"job_title": "Chemist"}}, headers=sales)  # fmt: skip
    assert changed.status_code == 200
    withdrawn = client.post(f"/api/v1/customers/{customer_id}/consents",
                            json={"purpose": "marketing", "granted": False, "source": "crm"},
                            headers=sales)  # fmt: skip
    assert withdrawn.status_code in (200, 201), withdrawn.get_json()
    assert feed(client, tokens["sales"])["items"] == []  # nothing until the relay numbers them
    assert relay(app)["numbered"] == 3
    page = feed(client, tokens["sales"])
    assert kinds(page, customer_id) == ["customer.created", "customer.updated", "consent.changed"]
    created, updated, consent = page["items"]
    assert set(created) == {"id", "type", "occurred_at", "customer_id", "fields", "purpose", "data"}
    assert "email" in created["fields"]
    assert updated["fields"] == ["job_title"]
    assert consent["purpose"] == "marketing"
    assert consent["data"] == {"granted": False}
    # polling from the cursor gives only what is new, and the cursor is there when nothing is
    again = feed(client, tokens["sales"], page["next_cursor"])
    assert again["items"] == []
    assert again["next_cursor"]
    assert again["has_more"] is False
    client.patch(f"/api/v1/customers/{customer_id}", json={"fields": {"company": "Acme"}},
                 headers=sales)  # fmt: skip
    relay(app)
    assert kinds(feed(client, tokens["sales"], again["next_cursor"])) == ["customer.updated"]


def test_no_event_body_carries_a_value(app: Flask, client: FlaskClient, tokens: Tokens) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    customer_id = create(client, sales)
    client.patch(f"/api/v1/customers/{customer_id}",
                 json={"fields": {"job_title": "Quantum Herbalist"}}, headers=sales)  # fmt: skip
    relay(app)
    text = json.dumps(feed(client, tokens["sales"]))
    values = [v for v in SAMPLE_FIELDS.values() if isinstance(v, str)] + ["Quantum Herbalist"]
    assert len(values) > 3
    for value in values:
        assert value not in text


def test_a_client_hears_only_of_customers_it_could_see(
    app: Flask, client: FlaskClient, tokens: Tokens, optin_token: str
) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    silent = create(client, sales, fields={"email": "silent@example.org"})
    optin = bearer(optin_token, **{"X-Purpose": "sales"})
    granted = [{"purpose": "marketing", "granted": True, "source": "web"}]
    consenting = create(client, optin, fields={"email": "yes@example.org"}, consents=granted)
    us = create(client, sales, fields={"email": "us@example.org"}, region="US")
    client.patch(f"/api/v1/customers/{silent}", json={"fields": {"job_title": "Cook"}},
                 headers=sales)  # fmt: skip
    # the consenting customer withdraws: marketing saw the consent, so it hears of it
    client.post(f"/api/v1/customers/{consenting}/consents",
                json={"purpose": "marketing", "granted": False, "source": "web"},
                headers=sales)  # fmt: skip
    relay(app)
    marketing = feed(client, tokens["marketing"])
    assert {e["customer_id"] for e in marketing["items"]} == {consenting}
    assert kinds(marketing) == ["customer.created", "consent.changed"]
    # marketing reads names, email and interests: only those field names reach it
    assert set(marketing["items"][0]["fields"]) <= {"given_name", "family_name", "email",
                                                    "interests"}  # fmt: skip
    # a client of the US region hears nothing of EU customers
    assert {e["customer_id"] for e in feed(client, tokens["sales_us"])["items"]} == {us}
    # the EU-and-everywhere sales client hears of all three
    assert {e["customer_id"] for e in feed(client, tokens["sales"])["items"]} == {
        silent, consenting, us}  # fmt: skip


def test_an_erasure_reaches_those_who_saw_the_customer_before(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    customer_id = create(client, sales, fields={"email": "gone@example.org"})
    with app.app_context():
        record_consent(runtime.customer_store(), customer_id, purpose="marketing", granted=True,
                       source="web-form")  # fmt: skip
        db.session.commit()
    from tests.helpers import verified_privacy_request

    done = verified_privacy_request(client, "gone@example.org", "erasure")
    assert done.get_json()["status"] == "completed"
    relay(app)
    for name in ("sales", "marketing"):
        page = feed(client, tokens[name])
        assert kinds(page, customer_id)[-1] == "customer.erased", name
        assert page["items"][-1]["data"] == {"cause": "privacy_request"}


def test_acknowledgements(app: Flask, client: FlaskClient, tokens: Tokens) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    customer_id = create(client, sales)
    relay(app)
    (event,) = feed(client, tokens["sales"])["items"]
    first = client.post(f"{EVENTS}/{event['id']}/ack", headers=bearer(tokens["sales"]))
    assert first.status_code == 200
    assert first.get_json()["event_id"] == event["id"]
    again = client.post(f"{EVENTS}/{event['id']}/ack", headers=bearer(tokens["sales"]))
    assert again.get_json()["acknowledged_at"] == first.get_json()["acknowledged_at"]
    # an event the client may not hear of is not found, as an unknown one
    assert_problem(client.post(f"{EVENTS}/{event['id']}/ack", headers=bearer(tokens["sales_us"])),
                   404, "not_found")  # fmt: skip
    assert_problem(client.post(f"{EVENTS}/evt_nope/ack", headers=bearer(tokens["sales"])),
                   404, "not_found")  # fmt: skip
    assert customer_id


def test_the_feed_refuses_forged_cursors_and_staff(
    client: FlaskClient, tokens: Tokens, officer: dict[str, str]
) -> None:
    assert_problem(client.get(f"{EVENTS}?after=abc.def", headers=bearer(tokens["sales"])), 422,
                   "validation_failed")  # fmt: skip
    assert client.get(EVENTS).status_code == 401


def new_subscription(client: FlaskClient, admin: dict[str, str], url: str, *,
                     client_name: str = "crm", events: list[str] | None = None,
                     name: str = "crm-hooks") -> dict[str, Any]:  # fmt: skip
    wanted = {"name": name, "url": url, "client": client_name, "events": events or ALL_TYPES}
    response = client.post(SUBSCRIPTIONS, headers=admin, json=wanted)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://example.org/hooks"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://[fe80::1]/hooks"}, "url"),
        ({"url": "http://metadata.google.internal/x"}, "url"),
        ({"url": "http://user:pw@example.org/hooks"}, "url"),
        ({"events": ["customer.exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"client": "no-such-client"}, "client"),
    ],
)
def test_a_bad_subscription_is_refused_and_nothing_is_created(
    client: FlaskClient, tokens: Tokens, admin: dict[str, str], change: dict[str, Any], field: str
) -> None:
    body = {"name": "bad", "url": "https://example.org/hooks", "client": "crm",
            "events": ["customer.created"], **change}  # fmt: skip
    problem = assert_problem(client.post(SUBSCRIPTIONS, headers=admin, json=body), 422,
                             "validation_failed")  # fmt: skip
    assert field in {name.split(".")[0] for name in problem["errors"]}
    assert client.get(SUBSCRIPTIONS, headers=admin).get_json()["items"] == []


def test_only_admins_manage_subscriptions(
    client: FlaskClient, tokens: Tokens, officer: dict[str, str]
) -> None:
    for headers in (officer, bearer(tokens["sales"])):
        assert client.get(SUBSCRIPTIONS, headers=headers).status_code == 403


def verify(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every body the receiver got, each checked with the standardwebhooks package."""
    hook = Webhook(secret)
    return [hook.verify(body, headers) for headers, body in receiver.received]


def test_webhooks_are_signed_ordered_retried_and_paused(
    app: Flask, client: FlaskClient, tokens: Tokens, admin: dict[str, str], clock: FixedClock
) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    with running_receiver() as receiver:
        made = new_subscription(client, admin, receiver.url)
        assert made["secret"].startswith("whsec_")
        assert "secret" not in client.get(f"{SUBSCRIPTIONS}/{made['id']}", headers=admin).get_json()
        customer_id = create(client, sales)
        client.patch(f"/api/v1/customers/{customer_id}", json={"fields": {"company": "Acme"}},
                     headers=sales)  # fmt: skip
        receiver.answers = [500]  # the first attempt fails
        relay(app)
        assert len(receiver.received) == 1  # the second waits behind the first (same customer)
        log = client.get(f"{SUBSCRIPTIONS}/{made['id']}/deliveries", headers=admin).get_json()
        failed = [d for d in log["items"] if d["attempts"] == 1]
        assert failed[0]["last_status_code"] == 500
        assert failed[0]["status"] == "pending"
        relay(app)
        assert len(receiver.received) == 1  # not due yet: backoff
        clock.advance(seconds=10)
        relay(app)
        relay(app)
        bodies = verify(receiver, made["secret"])
        assert [b["type"] for b in bodies] == ["customer.created", "customer.created",
                                               "customer.updated"]  # fmt: skip
        assert {h["webhook-id"] for h, _ in receiver.received[:2]} == {bodies[0]["id"]}
        # paused: nothing goes out; resumed: the backlog does
        client.patch(f"{SUBSCRIPTIONS}/{made['id']}", json={"status": "paused"}, headers=admin)
        client.patch(f"/api/v1/customers/{customer_id}", json={"fields": {"company": "Beta"}},
                     headers=sales)  # fmt: skip
        relay(app)
        assert len(receiver.received) == 3
        client.patch(f"{SUBSCRIPTIONS}/{made['id']}", json={"status": "active"}, headers=admin)
        relay(app)
        assert len(receiver.received) == 4
        # replay from a time sends them all again
        since = (clock.now() - dt.timedelta(hours=1)).isoformat()
        replay = client.post(f"{SUBSCRIPTIONS}/{made['id']}/replay", json={"from": since},
                             headers=admin)  # fmt: skip
        assert replay.status_code == 202
        assert replay.get_json()["queued"] == 3
        relay(app)
        relay(app)
        relay(app)
        assert len(receiver.received) == 7


def test_a_delivery_is_failed_once_the_retry_window_has_passed(
    app: Flask, client: FlaskClient, tokens: Tokens, admin: dict[str, str], clock: FixedClock
) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    with running_receiver() as receiver:
        made = new_subscription(client, admin, receiver.url)
        create(client, sales)
        receiver.answers = [503] * 100
        relay(app)
        for _hour in range(25):
            clock.advance(hours=1)
            relay(app)
        (delivery,) = client.get(f"{SUBSCRIPTIONS}/{made['id']}/deliveries",
                                 headers=admin).get_json()["items"]  # fmt: skip
        assert delivery["status"] == "failed"
        assert delivery["last_status_code"] == 503
        assert 2 <= delivery["attempts"] <= 30


def test_an_erasure_shows_the_systems_told_and_their_acknowledgements(
    app: Flask, client: FlaskClient, tokens: Tokens, admin: dict[str, str],
    officer: dict[str, str],
) -> None:  # fmt: skip
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    customer_id = create(client, sales)
    with running_receiver() as receiver:
        made = new_subscription(client, admin, receiver.url, events=["customer.erased"])
        filed = client.post("/api/v1/privacy-requests", headers=officer, json={
            "type": "erasure", "customer_id": customer_id, "channel": "phone",
            "identity_check": "callback_to_number_on_file"})  # fmt: skip
        assert filed.status_code == 201, filed.get_json()
        request_id = filed.get_json()["id"]

        def seen() -> dict[str, Any]:
            body: dict[str, Any] = client.get(f"/api/v1/privacy-requests/{request_id}",
                                              headers=officer).get_json()  # fmt: skip
            return body

        def awaiting(flag: str) -> list[str]:
            listed = client.get("/api/v1/privacy-requests", headers=officer,
                                query_string={"awaiting_acknowledgement": flag})  # fmt: skip
            return [item["id"] for item in listed.get_json()["items"]]

        # not told yet: waiting, and nobody listed
        assert seen()["awaiting_acknowledgement"] is True
        assert seen()["notified"] == []
        assert request_id in awaiting("true")
        relay(app)
        (told,) = seen()["notified"]
        assert (told["system"], told["client"], told["status"]) == ("crm-hooks", "crm", "delivered")
        assert told["delivered_at"]
        assert told["acknowledged_at"] is None
        assert seen()["awaiting_acknowledgement"] is True
        (delivered,) = verify(receiver, made["secret"])
        assert (delivered["type"], delivered["customer_id"]) == ("customer.erased", customer_id)
        acked = client.post(f"{EVENTS}/{delivered['id']}/ack", headers=bearer(tokens["sales"]))
        assert acked.status_code == 200
    view = seen()
    assert view["awaiting_acknowledgement"] is False
    when = dt.datetime.fromisoformat(view["notified"][0]["acknowledged_at"])
    assert when == dt.datetime.fromisoformat(acked.get_json()["acknowledged_at"])
    certificate = view["certificate"]
    assert certificate["recipients"] == view["notified"]
    with app.app_context():
        assert signature_holds(runtime.customer_store(), certificate)
        forged = {**certificate, "recipients": []}
        assert not signature_holds(runtime.customer_store(), forged)
    assert request_id in awaiting("false")
    assert request_id not in awaiting("true")


def test_a_receiver_that_answers_again_gets_its_waiting_retries_at_once(
    app: Flask, client: FlaskClient, tokens: Tokens, admin: dict[str, str]
) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    with running_receiver() as receiver:
        made = new_subscription(client, admin, receiver.url)
        waiting = [create(client, sales, fields={"email": f"w{n}@example.org"}) for n in range(3)]
        with app.app_context():
            relayer = jobs.relay(app.config["VAULT_SETTINGS"])
            relayer.holdoff = Holdoff(first=0.01)  # left alone for a hundredth of a second
            receiver.answers = [503, 503, 503]
            assert relayer.run_once()["failed_attempts"] == 3
            assert relayer.holdoff.failures == {made["id"]: 1}  # one pause, not three
            assert relayer.run_once()["delivered"] == 0  # their retries are not due yet
            later = create(client, sales, fields={"email": "later@example.org"})
            time.sleep(0.02)
            assert relayer.run_once()["delivered"] == 1  # the receiver answers again...
            assert relayer.run_once()["delivered"] == 3  # ...so what waited goes at once
    delivered = [b["customer_id"] for b in verify(receiver, made["secret"])[3:]]
    assert delivered[0] == later
    assert sorted(delivered[1:]) == sorted(waiting)


def test_a_holdoff_grows_only_when_the_first_attempt_after_it_fails() -> None:
    now = [0.0]
    holdoff = Holdoff(clock=lambda: now[0], first=1.0, longest=3.0)
    holdoff.failed("sub")
    holdoff.failed("sub")  # on its way when the first failed: the same pause
    assert holdoff.failures["sub"] == 1
    assert 0.5 <= holdoff.until["sub"] <= 1.0
    now[0] = 1.0
    holdoff.failed("sub")
    assert holdoff.failures["sub"] == 2
    for _ in range(5):  # doubling, but never past the longest pause
        now[0] = holdoff.until["sub"]
        holdoff.failed("sub")
        assert holdoff.until["sub"] - now[0] <= 3.0 + 1e-9
    assert holdoff.reached("sub") is True
    assert holdoff.reached("sub") is False
    assert not holdoff.holds("sub")


def test_a_revoked_clients_subscription_hears_nothing_more_from_the_same_relay(
    app: Flask, client: FlaskClient, tokens: Tokens, admin: dict[str, str]
) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    # the relay keeps its session on a thread of its own, as in the worker; requests and
    # the revocation are units of work of their own
    with running_receiver() as receiver, ThreadPoolExecutor(1) as worker:
        made = new_subscription(client, admin, receiver.url)
        create(client, sales, fields={"email": "before@example.org"})
        worker.submit(app.app_context().push).result()
        relayer = worker.submit(jobs.relay, app.config["VAULT_SETTINGS"]).result()
        assert worker.submit(relayer.run_once).result()["delivered"] == 1
        with app.app_context():
            crm = db.session.scalar(sa.select(ApiClient).where(ApiClient.name == "crm"))
            assert crm is not None
            revoke_client(db.session, crm.id, AuditContext(actor_kind="user",
                          actor_id="usr_test"), now=runtime.now())  # fmt: skip
            db.session.commit()
        with app.app_context():  # a change that the revoked client could have seen
            customer_id = runtime.customer_store().create(
                {**SAMPLE_FIELDS, "email": "after@example.org"}, region="EU"
            )
            db.session.commit()
        assert worker.submit(relayer.run_once).result()["numbered"] == 1
        assert worker.submit(relayer.run_once).result()["delivered"] == 0
    assert [b["customer_id"] for b in verify(receiver, made["secret"])] != [customer_id]
    assert len(verify(receiver, made["secret"])) == 1


def test_a_hanging_receiver_holds_up_no_other_subscription(
    app: Flask, client: FlaskClient, tokens: Tokens, admin: dict[str, str]
) -> None:
    sales = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    created = ["customer.created"]
    with (
        running_receiver() as hanging,
        running_receiver() as fast,
        ThreadPoolExecutor(1) as worker,
    ):
        hanging.delay = 3.0
        new_subscription(client, admin, hanging.url, name="hanging-hooks", events=created)
        made = new_subscription(client, admin, fast.url, name="fast-hooks", events=created)
        customers = {
            create(client, sales, fields={"email": f"hook{n}@example.org"}) for n in range(6)
        }
        worker.submit(app.app_context().push).result()
        relayer = worker.submit(jobs.relay, app.config["VAULT_SETTINGS"]).result()
        relayer.concurrency, relayer.per_subscription = 4, 2
        stop = threading.Event()
        running = worker.submit(relayer.run_for, stop, seconds=30, idle=0.05)
        deadline = time.monotonic() + 20
        while len(fast.received) < len(customers) and time.monotonic() < deadline:
            time.sleep(0.01)
        # the fast receiver has them all while the hanging one has answered nothing yet
        assert not hanging.received
        assert {b["customer_id"] for b in verify(fast, made["secret"])} == customers
        stop.set()
        totals = running.result(timeout=20)  # waits for the attempts on their way
    # at most ``per_subscription`` attempts were ever on their way to the hanging receiver
    assert len(hanging.received) == 2
    assert totals["delivered"] == len(customers) + 2
