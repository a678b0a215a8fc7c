"""The privacy portal of API.md §3, through HTTP, with the outbox mailer: export and erasure
flows, no account enumeration, codes that lock, one-time download links, legal holds."""

from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import io
import json
import re
import time
import zipfile
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import (
    REQUESTS,
    SAMPLE_FIELDS,
    SECRET_TEXT,
    bearer,
    code_in,
    messages,
    new_customer,
    outbox,
)
from tests.support.smtp import CollectingHandler
from vault import runtime
from vault.audit.models import AuditEvent
from vault.clock import FixedClock
from vault.db import db
from vault.governance.models import PrivacyRequest


def ask(client: FlaskClient, address: str, kind: str) -> dict[str, Any]:
    response = client.post(REQUESTS, json={"email": address, "type": kind})
    assert response.status_code == 202, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"id", "status"}
    assert body["status"] == "pending_verification"
    return body


def verify(client: FlaskClient, request_id: str, code: str) -> Any:
    return client.post(f"{REQUESTS}/{request_id}/verify", json={"code": code})


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


def test_the_html_form_needs_its_csrf_token(app: Flask, client: FlaskClient) -> None:
    page = client.get("/privacy", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "text/html" in page.content_type
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    )
    assert token is not None
    forged = client.post(REQUESTS, data={"email": "form@example.org", "type": "export"})
    assert forged.status_code == 422
    sent = client.post(
        REQUESTS, data={"email": "form@example.org", "type": "export", "csrf_token": token[1]}
    )
    assert sent.status_code == 202
    html = sent.get_data(as_text=True)
    assert "pending verification" in html
    assert 'name="code"' in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PrivacyRequest)) == 1


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found is not None
    return found[1]


def test_a_person_goes_through_the_export_with_the_html_pages(
    app: Flask, client: FlaskClient, sales: dict[str, str]
) -> None:
    new_customer(client, sales, "browser@example.org")
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    form = client.get("/privacy", headers=browser).get_data(as_text=True)
    fields = {"email": "browser@example.org", "type": "export", "csrf_token": csrf_token(form)}
    sent = client.post(REQUESTS, headers=browser, data=fields)
    page = sent.get_data(as_text=True)
    request_id = re.search(r"<code>(prq_[0-9a-f]+)</code>", page)
    assert request_id is not None
    wrong = client.post(f"{REQUESTS}/{request_id[1]}/verify", headers=browser,
                        data={"code": "00000000", "csrf_token": csrf_token(page)})  # fmt: skip
    assert wrong.status_code == 422
    assert "4 attempts left" in wrong.get_data(as_text=True)
    done = client.post(f"{REQUESTS}/{request_id[1]}/verify", headers=browser, data={
        "code": code_in(messages(app)[0]), "csrf_token": csrf_token(page)})  # fmt: skip
    assert done.status_code == 200
    link = re.search(r'<a id="download" href="([^"]+)"', done.get_data(as_text=True))
    assert link is not None
    assert client.get(link[1]).mimetype == "application/zip"
    missing = client.get(f"{REQUESTS}/prq_unknown", headers=browser)
    assert missing.status_code == 404
    assert "text/html" in missing.content_type


def test_the_export_lists_data_accesses_only_never_holds_or_queue_work(
    app: Flask, client: FlaskClient, sales: dict[str, str], officer: dict[str, str],
    make_token: Callable[..., str],
) -> None:  # fmt: skip
    customer_id = new_customer(client, sales, "watched@example.org")
    hold = {"customer_id": customer_id, "reason": "litigation 2291"}
    placed = client.post("/api/v1/legal-holds", json=hold, headers=officer)
    assert placed.status_code == 201
    lifted = client.post(f"/api/v1/legal-holds/{placed.get_json()['id']}/lift",
                         json={"reason": "case settled"}, headers=officer)  # fmt: skip
    assert lifted.status_code == 200
    assert client.get("/api/v1/legal-holds?active=false", headers=officer).status_code == 200
    asked = ask(client, "watched@example.org", "export")
    assert client.get("/api/v1/privacy-requests", headers=officer).status_code == 200
    audit = client.get(f"/api/v1/audit/events?customer={customer_id}", headers=officer)
    assert audit.status_code == 200
    assert "legal_hold.place" in {e["action"] for e in audit.get_json()["items"]}
    support = bearer(make_token(role="support", name="desk"), **{"X-Purpose": "support"})
    consents = client.get(f"/api/v1/customers/{customer_id}/consents", headers=support)
    assert consents.status_code == 200
    url = verify(client, asked["id"], code_in(messages(app)[-1])).get_json()["download_url"]
    archive = zipfile.ZipFile(io.BytesIO(client.get(url).data))
    data = json.loads(archive.read("data.json"))
    actions = {a["action"] for a in data["accesses"]}
    assert {"customer.create", "customer.read", "interaction.create", "consent.read"} <= actions
    assert {a.split(".")[0] for a in actions} == {"customer", "consent", "interaction"}
    assert {a["by"] for a in data["accesses"]} == {"system crm", "system desk"}
    csv_actions = {row["action"] for row in csv.DictReader(io.StringIO(
        archive.read("accesses.csv").decode()))}  # fmt: skip
    assert csv_actions == actions
    for name in archive.namelist():
        text = archive.read(name).decode()
        for word in ("legal_hold", "privacy_request.", "audit.", "litigation"):
            assert word not in text, (name, word)


def test_with_smtp_configured_the_code_goes_through_a_real_smtp_server(
    make_app: Callable[..., Flask], smtp_handler: CollectingHandler, smtp_server: Controller
) -> None:
    vault = make_app(
        smtp_host="127.0.0.1", smtp_port=smtp_server.port, mail_from="privacy@vault.test"
    )
    client = vault.test_client()
    with vault.app_context():
        runtime.customer_store().create({**SAMPLE_FIELDS, "email": "smtp@example.org"}, region="EU")
        db.session.commit()
    asked = ask(client, "smtp@example.org", "export")
    deadline = time.monotonic() + 10  # SMTP is handed to a background thread
    while not smtp_handler.envelopes and time.monotonic() < deadline:
        time.sleep(0.02)
    [envelope] = smtp_handler.envelopes
    assert envelope.rcpt_tos == ["smtp@example.org"]
    assert isinstance(envelope.content, bytes)  # the handler keeps the raw bytes (no decode_data)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    done = verify(client, asked["id"], code_in(message))
    assert done.get_json()["status"] == "completed"
    assert not outbox(vault).exists()


def test_no_address_code_or_value_reaches_a_log_line(
    app: Flask, client: FlaskClient, sales: dict[str, str], log_stream: io.StringIO
) -> None:
    new_customer(client, sales, "quiet@example.org")
    asked = ask(client, "quiet@example.org", "export")
    code = code_in(messages(app)[0])
    ask(client, "unknown.person@example.org", "erasure")
    verify(client, asked["id"], "00000000")
    url = verify(client, asked["id"], code).get_json()["download_url"]
    assert client.get(url).status_code == 200
    output = log_stream.getvalue()
    assert "request.completed" in output  # the log was captured
    token = url.rsplit("/", 1)[1]
    for secret in ("quiet@example.org", "unknown.person", code, SECRET_TEXT,
                   SAMPLE_FIELDS["national_id"], SAMPLE_FIELDS["family_name"]):  # fmt: skip
        assert secret not in output
    # the download path holds the link's token: the access log names the route, not the token
    assert token not in output


def test_the_csv_files_carry_no_formula_but_data_json_keeps_the_value(
    app: Flask, client: FlaskClient, sales: dict[str, str]
) -> None:
    formula = '=HYPERLINK("http://attacker.example","click")'
    created = client.post("/api/v1/customers", json={"region": "EU", "fields": {
        **SAMPLE_FIELDS, "email": "sheet@example.org", "job_title": formula}},
        headers=sales)  # fmt: skip
    assert created.status_code == 201, created.get_json()
    asked = ask(client, "sheet@example.org", "export")
    url = verify(client, asked["id"], code_in(messages(app)[0])).get_json()["download_url"]
    archive = zipfile.ZipFile(io.BytesIO(client.get(url).data))
    assert json.loads(archive.read("data.json"))["fields"]["job_title"] == formula
    rows = dict(csv.reader(io.StringIO(archive.read("fields.csv").decode())))
    assert rows["job_title"] == "'" + formula
    assert rows["phone"] == "+442079460958"  # a number, left alone


def test_links_follow_a_trusted_proxy_and_ignore_forwarded_headers_otherwise(
    make_app: Callable[..., Flask], clock: FixedClock
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "privacy.example.com",
                 "X-Forwarded-For": "203.0.113.9"}  # fmt: skip
    for proxies, expected in ((0, "http://localhost/"), (1, "https://privacy.example.com/")):
        vault = make_app(proxy_count=proxies)
        with vault.app_context():
            runtime.customer_store().create({**SAMPLE_FIELDS, "email": "proxy@example.org"},
                                            region="EU")  # fmt: skip
            db.session.commit()
        client = vault.test_client()
        asked = client.post(REQUESTS, json={"email": "proxy@example.org", "type": "export"},
                            headers=forwarded)  # fmt: skip
        done = client.post(f"{REQUESTS}/{asked.get_json()['id']}/verify", headers=forwarded,
                           json={"code": code_in(messages(vault)[-1])})  # fmt: skip
        assert done.get_json()["download_url"].startswith(expected + "privacy/downloads/")
        with vault.app_context():
            addresses = set(db.session.scalars(sa.select(AuditEvent.client_address).where(
                AuditEvent.action == "privacy.request")))  # fmt: skip
        assert addresses == ({"203.0.113.9"} if proxies else {"127.0.0.1"})
        for path in outbox(vault).glob("*.eml"):
            path.unlink()
