"""OPTIONS and HEAD on every route, and CORS: an OPTIONS (a browser's preflight) is answered
with the route's methods without credentials, purpose or audit event; HEAD is GET without a
body; cross-origin headers are sent only when VAULT_CORS_ORIGINS names the origin, and only
for the API."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from tests.helpers import bearer
from vault.app import create_app
from vault.audit.models import AuditEvent
from vault.db import db
from vault.errors import ConfigurationError

ORIGIN = "https://crm.example.com"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "authorization, x-purpose"}  # fmt: skip


def audit_events(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0


def concrete(rule: Rule) -> str:
    """A path that ``rule`` matches."""

    def value(match: re.Match[str]) -> str:
        converter = match[1] or ""
        if converter.startswith("int"):
            return "1"
        if converter.startswith("any"):
            return converter[4:].split(",")[0].strip()
        return "admin.css" if converter.startswith("path") else "cus_x"

    return re.sub(r"<(?:([^:>]+):)?[^>]+>", value, rule.rule)


def every_path(app: Flask) -> dict[str, set[str]]:
    """Each route's path with the methods its rules allow together."""
    paths: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        paths.setdefault(concrete(rule), set()).update(rule.methods or ())
    return paths


def test_options_is_answered_on_every_route_without_credentials_or_audit(
    app: Flask, client: FlaskClient
) -> None:
    paths = every_path(app)
    assert len(paths) > 60
    before = audit_events(app)
    for path, methods in sorted(paths.items()):
        response = client.options(path, headers=PREFLIGHT)
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        # every method of the path's rules (a literal path may match a parameter's rule too)
        assert methods <= set(response.headers["Allow"].split(", ")), path
        assert response.get_data() == b"", path
        assert "Access-Control-Allow-Origin" not in response.headers  # CORS is off
    assert audit_events(app) == before


def test_options_on_a_customer_route_with_credentials_needs_no_audit_event(
    app: Flask, client: FlaskClient, sales: dict[str, str], customer_id: str
) -> None:
    before = audit_events(app)
    for path in ("", f"/{customer_id}", f"/{customer_id}/consents", "/search"):
        response = client.options(f"/api/v1/customers{path}", headers=sales)
        assert response.status_code == 200, (path, response.get_json())
        assert "OPTIONS" in response.headers["Allow"]
    assert audit_events(app) == before


def test_head_is_get_without_a_body(
    app: Flask, client: FlaskClient, sales: dict[str, str], customer_id: str,
    make_token: Callable[..., str],
) -> None:  # fmt: skip
    officer = bearer(make_token(role="compliance_officer", name="legal"))
    admin = bearer(make_token(role="admin", name="ops"))
    calls = [
        (f"/api/v1/customers/{customer_id}", sales), ("/api/v1/customers", sales),
        (f"/api/v1/customers/{customer_id}/consents", sales),
        (f"/api/v1/customers/{customer_id}/interactions", sales),
        ("/api/v1/customers/cus_nobody", sales), ("/api/v1/audit/events", officer),
        ("/api/v1/audit/verify", officer), ("/api/v1/legal-holds", officer),
        ("/api/v1/privacy-requests", officer), ("/api/v1/fields", admin),
        ("/api/v1/purposes", admin), ("/api/v1/roles", admin), ("/api/v1/policies", admin),
        ("/api/v1/users", admin), ("/api/v1/clients", admin), ("/api/v1/me", admin),
        ("/api/v1/openapi.json", {}), ("/healthz", {}), ("/privacy", {}),
        ("/api/v1/customers", {}),
    ]  # fmt: skip
    recorded = {}
    for path, headers in calls:
        before = audit_events(app)
        got = client.get(path, headers=headers)
        recorded_by_get = audit_events(app) - before
        before = audit_events(app)
        head = client.head(path, headers=headers)
        assert head.status_code == got.status_code, path
        assert head.get_data() == b"", path
        assert head.headers["Content-Type"] == got.headers["Content-Type"], path
        # the body was made and measured, only not sent (the audit log's own pages grow by
        # the events of these very calls, so lengths are compared elsewhere)
        assert int(head.headers["Content-Length"]) > 0, path
        if not path.startswith("/api/v1/audit"):
            assert head.headers["Content-Length"] == str(len(got.get_data())), path
        assert audit_events(app) - before == recorded_by_get, path  # a read is a read
        recorded[path] = recorded_by_get
    assert recorded[f"/api/v1/customers/{customer_id}"] == 1
    assert recorded["/api/v1/audit/events"] == 1


def test_cors_is_off_unless_configured(client: FlaskClient, sales: dict[str, str]) -> None:
    response = client.get("/api/v1/customers", headers={**sales, "Origin": ORIGIN})
    assert response.status_code == 200
    assert not [k for k, _v in response.headers.items() if k.startswith("Access-Control-")]


@pytest.fixture
def cors_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(cors_origins=f"{ORIGIN}, https://shop.example.com:8443")


def test_a_configured_origin_gets_its_preflight_and_its_answers(cors_app: Flask) -> None:
    client = cors_app.test_client()
    preflight = client.options("/api/v1/customers", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "x-purpose"} <= set(allowed.replace(" ", "").split(","))
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    assert preflight.headers["Access-Control-Max-Age"] == "600"
    # the answer itself (a refusal here: the token is no token) carries the headers too
    answer = client.get("/api/v1/customers", headers={"Origin": ORIGIN, "Authorization": "x"})
    assert answer.status_code == 401
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Request-ID" in answer.headers["Access-Control-Expose-Headers"]
    assert "Origin" in answer.headers["Vary"]


def test_cors_is_for_configured_origins_and_the_api_only(cors_app: Flask) -> None:
    client = cors_app.test_client()
    elsewhere = client.options(
        "/api/v1/customers", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 200
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
    for path in ("/admin/login", "/privacy", "/privacy/requests"):
        response = client.options(path, headers=PREFLIGHT)
        assert "Access-Control-Allow-Origin" not in response.headers, path


@pytest.mark.parametrize(
    "origins",
    ["*", "https://crm.example.com/app", "crm.example.com", "https://u@crm.example.com",
     "ftp://crm.example.com", "https://*.example.com", "https://crm.example.com?x=1"],
)  # fmt: skip
def test_an_origin_that_is_not_one_is_refused_at_start(origins: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="VAULT_CORS_ORIGINS"):
        create_app({"env": "testing", "database_url": "sqlite://", "cors_origins": origins,
                    "instance_path": str(tmp_path / "instance")})  # fmt: skip
