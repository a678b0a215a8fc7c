"""What test modules share: the settings of the database under test, sample data, and the
small steps many tests take (logging in to the admin UI, reading a problem answer, writing
audit events, reading the portal's mail, calling the `vault` command). Fixtures stay in the
conftest files; servers and clusters the tests start are in tests/support/."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from vault import runtime
from vault.audit.integrity import AuditLog
from vault.audit.models import AuditEvent
from vault.audit.service import AuditContext, record_event
from vault.auth.principal import Principal
from vault.auth.service import create_user
from vault.cli import main
from vault.crypto.keys import FileKeyProvider
from vault.db import db
from vault.errors import Forbidden
from vault.governance.consent import record_consent

DATABASE_KIND = os.environ.get("VAULT_TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get(
    "VAULT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TEST_SECRET_KEY = "test-secret-key-" + "x" * 40
PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@example.com"

if DATABASE_KIND not in {"sqlite", "postgresql"}:
    raise RuntimeError("VAULT_TEST_DATABASE must be sqlite or postgresql")


def app_settings(database_url: str, instance: Path, **extra: Any) -> dict[str, Any]:
    key_file = instance / "master.key"
    if not key_file.exists():
        FileKeyProvider.create(key_file)
    return {
        "env": "testing",
        "database_url": database_url,
        "instance_path": str(instance),
        "secret_key": TEST_SECRET_KEY,
        "log_format": "json",
        **extra,
    }


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


SAMPLE_FIELDS: dict[str, Any] = {
    "given_name": "Jeanne",
    "family_name": "Dupont-Ecclestone",
    "email": "Jeanne.Dupont@Example.org",
    "phone": "+44 20 7946 0958",
    "postal_address": "14 Rue des Lilas, 75019 Paris",
    "birth_date": "1984-03-09",
    "national_id": "FR-1840375019042",
    "job_title": "Procurement Lead",
    "company": "Atelier Quintessence",
    "interests": ["sailing", "ceramics"],
}


def csrf_token(client: FlaskClient, path: str = "/admin/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def log_in(client: FlaskClient, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> TestResponse:
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
    )


PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


def assert_problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert isinstance(body, dict)
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["type"].endswith(code)
    return body


EDITABLE = {
    "actor_kind": "user",
    "actor_id": "usr_forged",
    "purpose": "marketing",
    "action": "customer.export",
    "customer_ids": "cus_someone_else",
    "field_names": "national_id",
    "outcome": "allowed",
    "reason": "forged",
    "request_id": "req-forged",
    "client_address": "10.9.9.9",
}


def write_events(session: Session, count: int, start: dt.datetime) -> None:
    for i in range(count):
        record_event(
            session,
            AuditContext("client", f"cli_{i % 3}", "sales", f"req-{i}", "127.0.0.1"),
            action="customer.read",
            outcome="allowed" if i % 5 else "denied",
            now=start + dt.timedelta(seconds=i),
            customer_ids=[f"cus_{i:032x}"],
            field_names=["email", "given_name"],
            reason="" if i % 5 else "purpose_not_allowed",
        )


def commit_events(app: Flask, count: int) -> None:
    """``write_events`` in ``app``'s database, now, committed (for a vault served from it)."""
    with app.app_context():
        write_events(db.session, count, runtime.now())
        db.session.commit()


def problem_after(session: Session, log: AuditLog, tamper: Callable[[], Any], **verify: Any) -> str:
    """Tamper inside a savepoint, verify, undo; the problem must be reported."""
    nested = session.begin_nested()
    tamper()
    session.flush()
    report = log.verify(session, now=verify.pop("now", runtime.now()))
    nested.rollback()
    assert not report.ok
    assert report.problem
    return report.problem


REQUESTS = "/privacy/requests"
SECRET_TEXT = "Parcel 7741 left at the blue gate"


def outbox(app: Flask) -> Path:
    return Path(app.config["VAULT_SETTINGS"].instance_path) / "outbox"


def messages(app: Flask) -> list[email.message.EmailMessage]:
    folder = outbox(app)
    found = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in found]


def code_in(message: email.message.EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    codes = [line for line in content.splitlines() if re.fullmatch(r"\d{8}", line)]
    assert len(codes) == 1, "the code stands alone on one line"
    return codes[0]


def new_customer(client: FlaskClient, sales: dict[str, str], address: str) -> str:
    """A customer created by the sales system, with a purchase, who opted in to marketing
    (recorded directly: no shipped role may record a marketing grant through the API)."""
    response = client.post(
        "/api/v1/customers",
        json={"fields": {**SAMPLE_FIELDS, "email": address}, "region": "EU"},
        headers=sales,
    )
    assert response.status_code == 201, response.get_json()
    customer_id: str = response.get_json()["id"]
    with client.application.app_context():
        record_consent(runtime.customer_store(), customer_id, purpose="marketing", granted=True,
                       source="web-form")  # fmt: skip
        db.session.commit()
    interaction = {"kind": "purchase", "channel": "phone", "text": SECRET_TEXT,
                   "amount": "12.50", "currency": "EUR"}  # fmt: skip
    added = client.post(
        f"/api/v1/customers/{customer_id}/interactions", json=interaction, headers=sales
    )
    assert added.status_code == 201, added.get_json()
    assert client.get(f"/api/v1/customers/{customer_id}", headers=sales).status_code == 200
    return customer_id


def ask_privacy_request(client: FlaskClient, address: str, kind: str) -> dict[str, Any]:
    response = client.post(REQUESTS, json={"email": address, "type": kind})
    assert response.status_code == 202, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"id", "status"}
    assert body["status"] == "pending_verification"
    return body


def verify_privacy_request(client: FlaskClient, request_id: str, code: str) -> Any:
    return client.post(f"{REQUESTS}/{request_id}/verify", json={"code": code})


def verified_privacy_request(client: FlaskClient, address: str, kind: str) -> Any:
    """Ask for a privacy request of ``kind`` for ``address`` and verify it with the code
    mailed last: the verification's answer."""
    asked = ask_privacy_request(client, address, kind)
    return verify_privacy_request(client, asked["id"], code_in(messages(client.application)[-1]))


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found is not None
    return found[1]


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


def init(env: dict[str, str]) -> Result:
    return run(env, "init", "--admin-email", "Admin@Example.com", "--admin-password", PASSWORD)


def refused(client: FlaskClient) -> bool:
    """True when neither the API nor the admin UI accepts this client's session."""
    api = client.get("/api/v1/me")
    page = client.get("/admin/")
    if api.status_code == 200 and page.status_code == 200:
        return False
    assert api.status_code == 401, api.get_json()
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/admin/login")
    return True


class Staff:
    """A logged-in staff user's browser session calling the API."""

    def __init__(self, app: Flask, email: str) -> None:
        self.client = app.test_client()
        assert log_in(self.client, email).status_code == 302
        self.csrf = csrf_token(self.client, "/admin/")

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            f"/api/v1{path}", json=body or {}, headers={"X-CSRFToken": self.csrf}
        )

    def get(self, path: str, purpose: str = "") -> Any:
        return self.client.get(f"/api/v1{path}", headers={"X-Purpose": purpose} if purpose else {})


def events(app: Flask, action: str | None = None, **where: Any) -> list[AuditEvent]:
    """The audit events of ``app``'s database with ``action`` (any, without it) and the
    columns' values ``where`` names, in the order they were recorded."""
    if action is not None:
        where["action"] = action
    with app.app_context():
        query = sa.select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
        return list(db.session.scalars(query))


def non_admin_statuses(
    app: Flask, make_token: Callable[..., str], method: str, url: str, body: Any
) -> list[int]:
    """The answers' statuses to tokens of the other roles and to a compliance officer's
    session (five in all)."""
    statuses = [
        getattr(app.test_client(), method)(url, json=body, headers=bearer(make_token(role=role)))
        .status_code
        for role in ("sales", "support", "compliance_officer", "data_owner")
    ]  # fmt: skip
    with app.app_context(), db.transaction() as session:
        create_user(session, email="officer@example.com", password=PASSWORD,
                    roles=["compliance_officer"])  # fmt: skip
    officer = Staff(app, "officer@example.com")
    by_session = getattr(officer.client, method)(url, json=body,
                                                 headers={"X-CSRFToken": officer.csrf})  # fmt: skip
    return [*statuses, by_session.status_code]


def sealed_within(app: Flask, wanted: int, *, seconds: float) -> int:
    """How many events of ``app``'s log are sealed (and verify) once ``wanted`` are, or once
    ``seconds`` have passed."""
    sealed, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline and sealed < wanted:
        time.sleep(0.2)
        with app.app_context():
            sealed = runtime.audit_log().verify(db.session, now=runtime.now()).events
            db.session.rollback()
    return sealed


Tokens = dict[str, str]  # the tokens of API clients, by name


def call_customers(
    client: FlaskClient, method: str, path: str, token: str, purpose: str, body: Any = None
) -> TestResponse:
    headers = bearer(token, **{"X-Purpose": purpose})
    return client.open(f"/api/v1/customers{path}", method=method, json=body, headers=headers)


def create_customer(client: FlaskClient, tokens: Tokens, **changes: Any) -> str:
    body = {"fields": {**SAMPLE_FIELDS, **changes.pop("fields", {})}, "region": "EU", **changes}
    response = call_customers(client, "POST", "", tokens["sales"], "sales", body)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


# --- the services' refusal tests ------------------------------------------------------------


def principal(*roles: str) -> Principal:
    return Principal(kind="user", id="usr_1", name="someone", roles=frozenset(roles),
                     purposes=frozenset())  # fmt: skip


def context(who: Principal) -> AuditContext:
    return AuditContext("user", who.id)


def never(*_args: Any) -> Any:
    raise AssertionError("a refused call went on")


def assert_refused(app: Flask, call: Callable[[], object], because: str) -> None:
    """``call`` (made in a request context) raises ``Forbidden`` saying ``because``, and no
    audit event is written."""
    with app.test_request_context():
        count = sa.select(sa.func.count()).select_from(AuditEvent)
        before = db.session.scalar(count)
        with pytest.raises(Forbidden) as refused:
            call()
        assert refused.value.detail == because
        assert db.session.scalar(count) == before


# One refusal case: a name, the call on the service, roles that do not suffice, the text.
Case = tuple[str, Callable[[Any], object], tuple[str, ...], str]


def cases(table: list[Case]) -> list[Any]:
    """``table`` as pytest parameters named by each case's name."""
    return [pytest.param(case, id=case[0]) for case in table]


def refuses(app: Flask, make: Callable[[Principal], Any], case: Case) -> None:
    """The call of ``case`` on the service ``make`` builds for a principal is refused, with
    the case's text, for a principal without roles and for one with the case's roles."""
    _name, call, roles, because = case
    for who in (principal(), principal(*roles)):
        assert_refused(app, lambda: call(make(who)), because)  # noqa: B023


def ask_in_ui(client: FlaskClient, email: str, customer_id: str, justification: str) -> str:
    """Log ``email`` in and ask for the sensitive data of a customer; returns the page."""
    assert log_in(client, email, PASSWORD).status_code == 302
    page = client.get("/admin/access-requests").get_data(as_text=True)
    asked = client.post("/admin/access-requests", data={
        "csrf_token": form_token(page), "purpose": "support", "categories": ["sensitive"],
        "customer_ids": customer_id, "justification": justification, "duration_days": "3",
    })  # fmt: skip
    assert asked.status_code == 302, asked.get_data(as_text=True)[:500]
    return page
