"""Every response carries the security headers (API.md §2); every response that may carry
personal data is ``Cache-Control: no-store``; the vault's own pages need no inline script or
style, so the strict Content-Security-Policy holds for them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.wrappers import Response

from tests.helpers import PASSWORD, SAMPLE_FIELDS, bearer, log_in
from vault.app import create_app
from vault.config import load_settings
from vault.errors import ConfigurationError

EXPECTED_CSP = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
STATIC = ["/admin/static/admin.css", "/static/privacy.css", "/static/api-docs.js",
          "/api/v1/docs/assets/swagger-ui.css"]  # fmt: skip


def policy(response: Response) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} twice"
        directives[name] = sources
    return directives


def assert_security_headers(response: Response) -> None:
    assert policy(response) == EXPECTED_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    features = dict(
        item.strip().split("=", 1) for item in response.headers["Permissions-Policy"].split(",")
    )
    assert {"camera", "microphone", "geolocation", "payment", "usb"} <= set(features)
    assert set(features.values()) == {"()"}, "every listed feature is denied to every origin"


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/me", "/api/v1/no-such-route",
     "/privacy", "/privacy/requests/prq_unknown", "/admin/login", "/admin/", *STATIC],
)  # fmt: skip
def test_every_response_carries_the_security_headers(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        assert response.status_code < 500
        assert_security_headers(response)
        assert "Strict-Transport-Security" not in response.headers  # off outside production


def test_the_policy_forbids_inline_and_evaluated_code(client: FlaskClient) -> None:
    header = client.get("/privacy").headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header
    assert "*" not in header


def test_responses_that_may_carry_personal_data_are_not_stored(
    client: FlaskClient, make_token: Callable[..., str], make_user: Callable[..., str]
) -> None:
    sales = bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})
    created = client.post("/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
                          headers=sales)  # fmt: skip
    assert created.status_code == 201
    customer = created.get_json()["id"]
    officer = bearer(make_token(role="compliance_officer", name="legal"))
    asked = client.post("/privacy/requests", json={"email": SAMPLE_FIELDS["email"],
                                                   "type": "export"})  # fmt: skip
    answers = [
        created,
        client.get(f"/api/v1/customers/{customer}", headers=sales),
        client.get("/api/v1/customers", headers=sales),
        client.post("/api/v1/customers/search", json={"email": SAMPLE_FIELDS["email"]},
                    headers=sales),
        client.get("/api/v1/customers/cus_unknown", headers=sales),
        client.get("/api/v1/audit/export?format=csv", headers=officer),
        client.get("/api/v1/privacy-requests", headers=officer),
        client.get("/api/v1/openapi.json"),
        asked,
        client.get("/privacy"),
        client.get(f"/privacy/requests/{asked.get_json()['id']}"),
        client.get("/privacy/downloads/not-a-token"),
        client.get("/admin/login"),
    ]  # fmt: skip
    make_user("root@example.com", roles=("admin",))
    assert log_in(client, "root@example.com", PASSWORD).status_code == 302
    pages = ("/admin/", "/admin/customers", "/admin/audit", "/admin/privacy-requests")
    answers += [client.get(page) for page in pages]
    for answer in answers:
        assert answer.status_code < 500, answer.request.path
        assert answer.headers["Cache-Control"] == "no-store", answer.request.path
        assert_security_headers(answer)


@pytest.mark.parametrize("path", STATIC)
def test_static_assets_may_be_cached(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")


def assert_no_inline_script_or_style(client: FlaskClient, html: str) -> None:
    assert "<style" not in html
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html), "no inline event handlers"
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.DOTALL)
    for attributes, body in scripts:
        assert "src=" in attributes
        assert not body.strip()
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert stylesheets, "the page is styled from a stylesheet"
    for href in stylesheets:
        assert href.startswith("/"), "served by the vault itself"
        with client.get(href) as stylesheet:
            assert stylesheet.status_code == 200


@pytest.mark.parametrize("path", ["/privacy", "/admin/login", "/api/v1/docs"])
def test_the_pages_need_no_inline_script_or_style(client: FlaskClient, path: str) -> None:
    assert_no_inline_script_or_style(client, client.get(path).get_data(as_text=True))


ADMIN_PAGES = ["/admin/", "/admin/customers", "/admin/fields", "/admin/purposes",
               "/admin/retention", "/admin/audit?verify=1", "/admin/privacy-requests",
               "/admin/access-requests", "/admin/policies"]  # fmt: skip


@pytest.mark.parametrize("roles", [("admin",), ("compliance_officer",), ("sales",)])
def test_every_admin_page_needs_no_inline_script_or_style(
    client: FlaskClient, make_user: Callable[..., str], roles: tuple[str, ...]
) -> None:
    make_user("staff@example.com", roles=roles)
    assert log_in(client, "staff@example.com", PASSWORD).status_code == 302
    shown = 0
    for page in ADMIN_PAGES:
        answer = client.get(page)
        assert answer.status_code in (200, 403), page
        shown += answer.status_code == 200
        assert_no_inline_script_or_style(client, answer.get_data(as_text=True))
    assert shown >= 3  # each role sees pages of its own, not only refusals


def test_the_docs_page_loads_swagger_ui_from_the_vault(client: FlaskClient) -> None:
    html = client.get("/api/v1/docs").get_data(as_text=True)
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert sources == ["/api/v1/docs/assets/swagger-ui-bundle.js", "/static/api-docs.js"]
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    with client.get("/static/api-docs.js") as script:
        init = script.get_data(as_text=True)
    assert "SwaggerUIBundle" in init
    assert "validatorUrl: null" in init  # no badge fetched from the internet


def test_hsts_is_on_in_production_and_follows_its_setting(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_bytes(b"\0" * 32)
    base = {"env": "production", "instance_path": str(tmp_path), "secret_key": "k" * 40,
            "master_key_file": str(key_file), "base_url": "https://vault.example.com"}  # fmt: skip
    answer = create_app(base).test_client().get("/healthz")
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    quiet = create_app({**base, "hsts_seconds": 0}).test_client().get("/healthz")
    assert "Strict-Transport-Security" not in quiet.headers
    development = create_app({"instance_path": str(tmp_path), "hsts_seconds": "600"})
    answer = development.test_client().get("/healthz")
    assert answer.headers["Strict-Transport-Security"] == "max-age=600"


def test_hsts_seconds_from_the_environment(tmp_path: Path) -> None:
    assert load_settings(environ={"VAULT_INSTANCE_PATH": str(tmp_path)}).hsts_seconds is None
    settings = load_settings(
        environ={"VAULT_INSTANCE_PATH": str(tmp_path), "VAULT_HSTS_SECONDS": "86400"}
    )
    assert settings.resolved_hsts_seconds == 86400
    empty = load_settings(environ={"VAULT_INSTANCE_PATH": str(tmp_path), "VAULT_HSTS_SECONDS": ""})
    assert empty.resolved_hsts_seconds == 0  # development: off unless asked for


def test_the_page_of_a_crash_carries_the_headers_too(app: Flask) -> None:

    @app.get("/crash-for-test")
    def crash() -> str:
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    answer = app.test_client().get("/crash-for-test")
    assert answer.status_code == 500
    assert answer.headers["Cache-Control"] == "no-store"
    assert_security_headers(answer)


def test_a_negative_hsts_age_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="VAULT_HSTS_SECONDS"):
        create_app({"instance_path": str(tmp_path), "hsts_seconds": -1})


def test_a_header_the_view_set_is_replaced_where_it_stood(app: Flask) -> None:
    """A response that already holds some of these headers gets each once, with the vault's
    value, in the place the first of its name held (``Headers.update``'s order); the rest
    follow in their own order, as on any other response."""

    @app.get("/framed-for-test")
    def framed() -> Response:
        answer = Response("{}", mimetype="application/json")
        answer.headers.add("X-Frame-Options", "SAMEORIGIN")
        answer.headers.add("Cache-Control", "public, max-age=60")
        answer.headers.add("X-Frame-Options", "ALLOW-FROM https://elsewhere.example")
        return answer

    @app.get("/plain-for-test")
    def plain() -> Response:
        return Response("{}", mimetype="application/json")

    framed_answer = app.test_client().get("/framed-for-test")
    plain_answer = app.test_client().get("/plain-for-test")
    names = [name for name, _ in framed_answer.headers]
    assert names.count("X-Frame-Options") == 1
    assert names.count("Cache-Control") == 1
    assert framed_answer.headers["X-Frame-Options"] == "DENY"
    assert framed_answer.headers["Cache-Control"] == "no-store"
    assert names.index("X-Frame-Options") < names.index("Cache-Control")
    assert_security_headers(framed_answer)
    plain_names = [name for name, _ in plain_answer.headers]
    assert plain_answer.headers["Cache-Control"] == "no-store"
    assert plain_names.index("Content-Security-Policy") < plain_names.index("Cache-Control")
    assert_security_headers(plain_answer)
