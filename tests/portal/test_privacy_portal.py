"""The privacy portal of API.md §3, through HTTP, with the outbox mailer: export and erasure
flows, no account enumeration, codes that lock and expire, one-time download links, limits."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import (
    REQUESTS,
    SAMPLE_FIELDS,
    SECRET_TEXT,
    code_in,
    messages,
    new_customer,
)
from tests.helpers import ask_privacy_request as ask
from tests.helpers import verify_privacy_request as verify
from vault.audit.models import AuditEvent
from vault.clock import FixedClock
from vault.db import db
from vault.governance.models import PrivacyRequest


def test_export_end_to_end(
    app: Flask, client: FlaskClient, sales: dict[str, str], clock: FixedClock
) -> None:
    customer_id = new_customer(client, sales, "jeanne@example.org")
    asked = ask(client, "Jeanne@Example.org", "export")
    [message] = messages(app)
    assert message["To"] == "Jeanne@Example.org"
    status = client.get(f"{REQUESTS}/{asked['id']}", headers={"Accept": "application/json"})
    assert status.get_json()["status"] == "pending_verification"
    assert {"id", "type", "status", "reason"} <= set(status.get_json())

    done = verify(client, asked["id"], code_in(message))
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert (body["status"], body["type"]) == ("completed", "export")
    url = body["download_url"]
    assert url.startswith("http://localhost/privacy/downloads/")
    # The status shows the link to the client that verified (cookie), not to anyone else.
    assert client.get(f"{REQUESTS}/{asked['id']}").get_json()["download_url"] == url
    stranger = app.test_client()
    assert "download_url" not in stranger.get(f"{REQUESTS}/{asked['id']}").get_json()

    download = client.get(url)
    assert download.status_code == 200
    assert download.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    names = set(archive.namelist())
    assert {"data.json", "fields.csv", "consents.csv", "interactions.csv",
            "privacy_requests.csv", "accesses.csv", "manifest.json"} == names  # fmt: skip
    data = json.loads(archive.read("data.json"))
    assert data["customer"]["id"] == customer_id
    assert data["fields"]["national_id"] == SAMPLE_FIELDS["national_id"]  # every field in clear
    assert data["fields"]["email"] == "jeanne@example.org"
    assert data["fields"]["interests"] == SAMPLE_FIELDS["interests"]
    assert set(data["fields"]) == set(SAMPLE_FIELDS)
    assert [c["purpose"] for c in data["consents"]] == ["marketing"]
    assert [i["text"] for i in data["interactions"]] == [SECRET_TEXT]
    assert [r["id"] for r in data["privacy_requests"]] == [asked["id"]]
    reads = [a for a in data["accesses"] if a["purpose"] == "sales"]
    assert {a["by"] for a in reads} == {"system crm"}
    actions = {a["action"] for a in reads}
    assert {"customer.create", "customer.read", "interaction.create"} <= actions
    assert "Parcel 7741" in archive.read("interactions.csv").decode()

    manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        content = archive.read(entry["name"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert len(content) == entry["bytes"]
    assert {f["name"] for f in manifest["files"]} == names - {"manifest.json"}
    check = client.post("/privacy/manifests/verify", json=manifest)
    assert check.get_json() == {"genuine": True}
    manifest["files"][0]["sha256"] = "0" * 64
    assert client.post("/privacy/manifests/verify", json=manifest).get_json() == {"genuine": False}

    again = client.get(url)
    assert again.status_code == 410  # the link works once
    assert "download_url" not in client.get(f"{REQUESTS}/{asked['id']}").get_json()
    with app.app_context():
        audited = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.outcome, AuditEvent.customer_ids)
            .where(AuditEvent.action.like("privacy.%"))
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(a) for a in audited] == [
        ("privacy.request", "allowed", customer_id),
        ("privacy.verify", "allowed", customer_id),
        ("privacy.export", "allowed", customer_id),
        ("privacy.download", "allowed", customer_id),
        ("privacy.download", "denied", customer_id),
    ]


def test_an_unknown_address_answers_the_same_and_sends_nothing(
    app: Flask, client: FlaskClient, sales: dict[str, str]
) -> None:
    new_customer(client, sales, "known@example.org")
    known = client.post(REQUESTS, json={"email": "known@example.org", "type": "export"})
    unknown = client.post(REQUESTS, json={"email": "nobody@example.org", "type": "export"})
    assert known.status_code == unknown.status_code == 202
    assert set(known.get_json()) == set(unknown.get_json()) == {"id", "status"}
    assert known.get_json()["status"] == unknown.get_json()["status"]
    assert len(known.get_json()["id"]) == len(unknown.get_json()["id"])
    assert len(messages(app)) == 1  # only the known address got a code
    assert all("nobody" not in str(m["To"]) for m in messages(app))
    # the unknown request behaves like any other: wrong codes count, five lock it
    request_id = unknown.get_json()["id"]
    for left in (4, 3, 2, 1, 0):
        refused = verify(client, request_id, "12345678")
        assert refused.status_code == 422
        assert refused.get_json()["code"] == "invalid_code"
        assert refused.get_json()["attempts_left"] == left
    assert client.get(f"{REQUESTS}/{request_id}").get_json()["status"] == "locked"


def test_five_wrong_codes_lock_the_request(
    app: Flask, client: FlaskClient, sales: dict[str, str]
) -> None:
    new_customer(client, sales, "careful@example.org")
    asked = ask(client, "careful@example.org", "export")
    code = code_in(messages(app)[0])
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        assert verify(client, asked["id"], wrong).status_code == 422
    refused = verify(client, asked["id"], code)
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "request_locked"
    state = client.get(f"{REQUESTS}/{asked['id']}").get_json()
    assert (state["status"], "download_url" in state) == ("locked", False)


def test_a_code_expires_and_a_download_link_after_seven_days(
    app: Flask, client: FlaskClient, sales: dict[str, str], clock: FixedClock
) -> None:
    new_customer(client, sales, "late@example.org")
    asked = ask(client, "late@example.org", "export")
    code = code_in(messages(app)[0])
    clock.advance(minutes=31)
    assert verify(client, asked["id"], code).status_code == 422

    again = ask(client, "late@example.org", "export")
    url = verify(client, again["id"], code_in(messages(app)[1])).get_json()["download_url"]
    clock.advance(days=7, minutes=1)
    assert client.get(url).status_code == 410
    assert client.get("/privacy/downloads/not-a-real-token").status_code == 404


def test_bad_requests_are_refused_with_nothing_recorded(app: Flask, client: FlaskClient) -> None:
    for body in ({"email": "x@example.org"}, {"email": "x@example.org", "type": "delete"},
                 {"email": "not an address", "type": "export"},
                 {"email": "x@example.org", "type": "export", "extra": 1}):  # fmt: skip
        refused = client.post(REQUESTS, json=body)
        assert refused.status_code == 422, body
        assert "not an address" not in refused.get_data(as_text=True)
    assert client.post(f"{REQUESTS}/prq_nothing/verify", json={"code": "1"}).status_code == 404
    assert client.get(f"{REQUESTS}/prq_nothing").status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PrivacyRequest)) == 0


def test_requests_per_address_are_limited(app: Flask, client: FlaskClient) -> None:
    for _ in range(5):
        ask(client, "flood@example.org", "export")
    limited = client.post(REQUESTS, json={"email": "FLOOD@example.org", "type": "erasure"})
    assert limited.status_code == 429
    assert limited.get_json()["code"] == "rate_limited"
    ask(client, "other@example.org", "export")


def test_the_address_limit_counts_every_spelling_the_vault_takes_as_one_address(
    client: FlaskClient,
) -> None:
    # the same address as the e-mail field stores it: case, Unicode normal form, IDNA
    variants = ["Jane.Doe@EXAMPLE.org", "jane.doe@example.org", " JANE.DOE@Example.Org "]
    for variant in variants:
        ask(client, variant, "export")
    limited = client.post(REQUESTS, json={"email": "jane.doe@example.ORG", "type": "erasure"})
    assert limited.status_code == 202  # three so far, of five
    ask(client, "jane.doe@EXAMPLE.org", "export")
    assert client.post(REQUESTS, json={"email": "Jane.Doe@example.org", "type": "export"}
                       ).status_code == 429  # fmt: skip
    decomposed, composed = "ja\u0301ne@xn--mnchen-3ya.de", "j\u00e1ne@m\u00fcnchen.de"
    for _ in range(3):
        ask(client, decomposed, "export")
    ask(client, composed, "export")
    ask(client, "J\u00c1NE@M\u00dcNCHEN.DE", "export")
    refused = client.post(REQUESTS, json={"email": composed, "type": "export"})
    assert refused.status_code == 429


def test_requests_per_client_are_rate_limited(make_app: Callable[..., Flask]) -> None:
    client = make_app(privacy_rate_limit="3 per minute").test_client()
    statuses = [
        client.post(REQUESTS, json={"email": f"p{i}@example.org", "type": "export"}).status_code
        for i in range(4)
    ]
    assert statuses == [202, 202, 202, 429]


def test_a_limited_route_tells_its_limit_and_an_unlimited_one_tells_none(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(privacy_rate_limit="3 per minute").test_client()
    answers = [client.post(REQUESTS, json={"email": f"h{i}@example.org", "type": "export"})
               for i in range(4)]  # fmt: skip
    assert [a.headers["X-RateLimit-Limit"] for a in answers] == ["3"] * 4
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert "Retry-After" in answers[3].headers
    for unlimited in (client.get("/healthz"), client.get("/api/v1/me")):
        assert not [name for name, _ in unlimited.headers if name.startswith("X-RateLimit")]
