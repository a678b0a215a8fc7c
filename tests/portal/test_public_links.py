"""Links the vault mails or returns are built from VAULT_BASE_URL, never from the Host a client
sent; VAULT_TRUSTED_HOSTS refuses requests naming another host; production needs a base URL."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, SAMPLE_FIELDS, bearer, form_token
from vault import runtime
from vault.app import create_app
from vault.auth.service import create_api_client, create_user
from vault.db import db
from vault.errors import ConfigurationError

BASE_URL = "https://vault.example.com"
EVIL = {"Host": "evil.example"}
LINK = re.compile(r"https?://\S+")


def mail_bodies(app: Flask) -> list[str]:
    outbox = Path(app.config["VAULT_SETTINGS"].instance_path) / "outbox"
    bodies = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        body = message.get_body(("plain",))
        assert body is not None
        bodies.append(body.get_content())
    return bodies


def only_links(text: str) -> list[str]:
    links = LINK.findall(text)
    assert links, "the message carries a link"
    return links


@pytest.fixture
def vault_with_base_url(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(base_url=BASE_URL)
    with app.app_context():
        customer_id = runtime.customer_store().create(SAMPLE_FIELDS, region="EU")
        create_user(db.session, email="officer@example.com", password=PASSWORD,
                    roles=["compliance_officer"])  # fmt: skip
        db.session.commit()
        app.config["TEST_CUSTOMER_ID"] = customer_id
    return app


def test_a_portal_request_from_a_forged_host_mails_and_returns_base_url_links(
    vault_with_base_url: Flask,
) -> None:
    app = vault_with_base_url
    client = app.test_client()
    asked = client.post("/privacy/requests", headers=EVIL,
                        json={"email": SAMPLE_FIELDS["email"], "type": "export"})  # fmt: skip
    assert asked.status_code == 202
    request_id = asked.get_json()["id"]
    [body] = mail_bodies(app)
    assert "evil.example" not in body
    assert only_links(body) == [f"{BASE_URL}/privacy/requests/{request_id}"]
    code = next(line for line in body.splitlines() if re.fullmatch(r"\d{8}", line))

    done = client.post(f"/privacy/requests/{request_id}/verify", headers=EVIL,
                       json={"code": code})  # fmt: skip
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["download_url"].startswith(f"{BASE_URL}/privacy/downloads/")
    status = client.get(f"/privacy/requests/{request_id}", headers=EVIL)
    assert status.get_json()["download_url"] == done.get_json()["download_url"]
    assert "evil.example" not in done.get_data(as_text=True) + status.get_data(as_text=True)


def test_an_export_filed_by_staff_from_a_forged_host_mails_a_base_url_link(
    vault_with_base_url: Flask,
) -> None:
    app = vault_with_base_url
    officer = app.test_client()  # the whole session goes to the forged host
    token = form_token(officer.get("/admin/login", headers=EVIL).get_data(as_text=True))
    logged_in = officer.post("/admin/login", headers=EVIL, data={
        "csrf_token": token, "email": "officer@example.com", "password": PASSWORD})  # fmt: skip
    assert logged_in.status_code == 302
    queue = officer.get("/admin/privacy-requests", headers=EVIL)
    assert queue.status_code == 200
    token = form_token(queue.get_data(as_text=True))
    filed = officer.post(
        "/admin/privacy-requests/file", headers=EVIL,
        data={"csrf_token": token, "type": "export", "channel": "phone",
              "customer_id": app.config["TEST_CUSTOMER_ID"],
              "identity_check": "callback_to_number_on_file"},
    )  # fmt: skip
    assert filed.status_code == 302
    assert filed.headers["Location"] == "/admin/privacy-requests"
    [body] = mail_bodies(app)
    assert "evil.example" not in body
    [link] = only_links(body)
    assert link.startswith(f"{BASE_URL}/privacy/downloads/")


def test_an_export_filed_through_the_api_from_a_forged_host_mails_a_base_url_link(
    vault_with_base_url: Flask,
) -> None:
    app = vault_with_base_url
    with app.app_context():
        _client, token = create_api_client(db.session, name="legal", role="compliance_officer",
                                           purposes=[], now=runtime.now())  # fmt: skip
        db.session.commit()
    filed = app.test_client().post(
        "/api/v1/privacy-requests", headers=bearer(token, **EVIL),
        json={"type": "export", "customer_id": app.config["TEST_CUSTOMER_ID"],
              "channel": "letter", "identity_check": "signed_letter"},
    )  # fmt: skip
    assert filed.status_code == 201, filed.get_json()
    [body] = mail_bodies(app)
    assert "evil.example" not in body
    [link] = only_links(body)
    assert link.startswith(f"{BASE_URL}/privacy/downloads/")


def test_without_a_base_url_development_links_use_the_request_host(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    with app.app_context():
        runtime.customer_store().create(SAMPLE_FIELDS, region="EU")
        db.session.commit()
    asked = app.test_client().post(
        "/privacy/requests", headers={"Host": "vault.test:8080"},
        json={"email": SAMPLE_FIELDS["email"], "type": "erasure"},
    )  # fmt: skip
    request_id = asked.get_json()["id"]
    [body] = mail_bodies(app)
    assert only_links(body) == [f"http://vault.test:8080/privacy/requests/{request_id}"]


def production(tmp_path: Path, **extra: str) -> dict[str, str]:
    key_file = tmp_path / "master.key"
    key_file.write_bytes(b"\0" * 32)
    return {"env": "production", "instance_path": str(tmp_path), "secret_key": "k" * 40,
            "master_key_file": str(key_file), **extra}  # fmt: skip


def test_production_refuses_to_start_without_an_https_base_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="VAULT_BASE_URL"):
        create_app(production(tmp_path))
    with pytest.raises(ConfigurationError, match=r"VAULT_BASE_URL.*https"):
        create_app(production(tmp_path, base_url="http://vault.example.com"))
    app = create_app(production(tmp_path, base_url=BASE_URL + "/"))
    assert app.config["VAULT_SETTINGS"].base_url == BASE_URL


@pytest.mark.parametrize(
    "base_url",
    [
        "vault.example.com",
        "ftp://vault.example.com",
        "https://",
        "https://vault.example.com/?x=1",
        "https://user@vault.example.com",
        "https://vault.example.com/#top",
    ],
)
def test_a_malformed_base_url_is_refused(tmp_path: Path, base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="VAULT_BASE_URL"):
        create_app({"instance_path": str(tmp_path), "base_url": base_url})


def test_trusted_hosts_refuse_a_request_naming_another_host(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(trusted_hosts="vault.example.com, .internal.example")
    assert app.config["TRUSTED_HOSTS"] == ["vault.example.com", ".internal.example"]
    client: FlaskClient = app.test_client()
    refused = client.get("/healthz", headers=EVIL)
    assert refused.status_code == 400
    assert refused.mimetype == "application/problem+json"
    assert refused.headers["X-Frame-Options"] == "DENY"
    asked = client.post("/privacy/requests", headers=EVIL,
                        json={"email": "a@example.org", "type": "export"})  # fmt: skip
    assert asked.status_code == 400
    assert client.get("/healthz", headers={"Host": "vault.example.com"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "vault.example.com:8443"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "a.internal.example"}).status_code == 200


def test_without_trusted_hosts_every_host_is_served(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert app.config["TRUSTED_HOSTS"] is None
    assert app.test_client().get("/healthz", headers=EVIL).status_code == 200
