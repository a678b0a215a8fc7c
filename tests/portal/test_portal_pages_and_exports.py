"""The privacy portal's HTML pages and their CSRF token, what an export holds (data accesses
only; CSV without formulas), the code through a real SMTP server, no address, code or value
in the logs, and links behind a trusted proxy."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re
import time
import zipfile
from collections.abc import Callable

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
from tests.helpers import ask_privacy_request as ask
from tests.helpers import form_token as csrf_token
from tests.helpers import verify_privacy_request as verify
from tests.support.smtp import CollectingHandler
from vault import runtime
from vault.audit.models import AuditEvent
from vault.clock import FixedClock
from vault.db import db
from vault.governance.models import PrivacyRequest


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
    assert 'data-status="pending_verification">waiting for your code<' in html
    assert 'name="code"' in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PrivacyRequest)) == 1


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


def test_the_organisation_signs_every_page_and_message(make_app: Callable[..., Flask]) -> None:
    app = make_app(organisation_name="Acme Retail GmbH", dpo_contact="dpo@acme.example",
                   organisation_contact="+49 30 1234567",
                   privacy_notice_url="https://acme.example/privacy")  # fmt: skip
    with app.app_context():
        runtime.customer_store().create(SAMPLE_FIELDS, region="EU")
        db.session.commit()
    client = app.test_client()
    page = client.get("/privacy").get_data(as_text=True)
    assert "This page is run by Acme Retail GmbH." in page
    assert "Data-protection officer: dpo@acme.example." in page
    assert 'href="https://acme.example/privacy"' in page
    sent = client.post("/privacy/requests?lang=pl",
                       json={"email": SAMPLE_FIELDS["email"], "type": "export"})  # fmt: skip
    assert sent.status_code == 202
    (message,) = messages(app)
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Acme Retail GmbH" in text
    assert "Inspektor ochrony danych: dpo@acme.example" in text
