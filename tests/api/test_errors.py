"""Every error is application/problem+json with its status and code, carries the request id,
echoes no submitted value, and leaves the database unchanged."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import assert_problem, bearer
from tests.support import probe
from tests.support.served import served_vault
from vault import runtime
from vault.auth.service import create_api_client
from vault.db import db
from vault.errors import QUOTE_LIMIT, quoted, quoted_list
from vault.text import UNSAFE


@pytest.fixture
def probed(app: Flask) -> Flask:
    probe.install(app)
    return app


@pytest.fixture
def token(make_token: Callable[..., str]) -> str:
    return make_token(role="sales")


def test_a_valid_request_commits(probed: Flask, token: str) -> None:
    response = probed.test_client().post(
        "/api/v1/probe/items", json={"name": "ok", "count": 1}, headers=bearer(token)
    )
    assert response.status_code == 201
    assert probe.marker_exists(probed, "probe_ok")


def test_malformed_json_is_400(probed: Flask, token: str) -> None:
    response = probed.test_client().post(
        "/api/v1/probe/items",
        data='{"name": "secret-value"',
        headers=bearer(token, **{"Content-Type": "application/json"}),
    )
    body = assert_problem(response, 400, "malformed_json")
    assert "secret-value" not in response.get_data(as_text=True)
    assert "errors" not in body


def test_a_wrong_content_type_is_415(probed: Flask, token: str) -> None:
    response = probed.test_client().post(
        "/api/v1/probe/items",
        data="name=secret-value",
        headers=bearer(token, **{"Content-Type": "application/x-www-form-urlencoded"}),
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert not probe.marker_exists(probed, "probe_ok")


def test_an_oversized_body_is_413(make_app: Callable[..., Flask]) -> None:
    app = make_app(max_content_length=1024)
    probe.install(app)
    payload = json.dumps({"name": "x" * 4096, "count": 1})
    response = app.test_client().post(
        "/api/v1/probe/items",
        data=payload,
        headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
    )
    assert_problem(response, 413, "payload_too_large")


def test_validation_failure_is_422_with_field_names_and_no_values(
    probed: Flask, token: str
) -> None:
    response = probed.test_client().post(
        "/api/v1/probe/items",
        json={"name": "far-too-long-secret-value", "count": "many", "extra": "x"},
        headers=bearer(token),
    )
    body = assert_problem(response, 422, "validation_failed")
    assert set(body["errors"]) == {"name", "count", "extra"}
    assert "far-too-long-secret-value" not in response.get_data(as_text=True)
    assert not probe.marker_exists(probed, "probe_ok")


def test_a_missing_required_field_is_422(probed: Flask, token: str) -> None:
    response = probed.test_client().post(
        "/api/v1/probe/items", json={"name": "a"}, headers=bearer(token)
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == {"count": ["Missing data for required field."]}


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("conflict", 409, "conflict"),
        ("forbidden", 403, "forbidden"),
        ("notfound", 404, "not_found"),
        ("invalid", 422, "validation_failed"),
    ],
)
def test_domain_errors_map_to_their_status_and_roll_back(
    probed: Flask, token: str, kind: str, status: int, code: str
) -> None:
    response = probed.test_client().post(f"/api/v1/probe/fail/{kind}", headers=bearer(token))
    assert_problem(response, status, code)
    assert not probe.marker_exists(probed, f"probe_{kind}")


def test_an_unexpected_error_is_a_500_without_its_message(probed: Flask, token: str) -> None:
    probed.config["PROPAGATE_EXCEPTIONS"] = False
    response = probed.test_client().post("/api/v1/probe/fail/crash", headers=bearer(token))
    assert_problem(response, 500, "internal_error")
    assert "secret@example.com" not in response.get_data(as_text=True)
    assert not probe.marker_exists(probed, "probe_crash")


def test_an_unknown_route_is_404(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_problem(client.get("/nowhere"), 404, "not_found")


def test_a_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/healthz")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_the_request_id_is_echoed_when_safe(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123.trace:9"})
    assert response.headers["X-Request-ID"] == "abc-123.trace:9"


def test_an_unsafe_request_id_is_replaced(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "jane@example.com"})
    assert response.headers["X-Request-ID"] != "jane@example.com"
    assert len(response.headers["X-Request-ID"]) == 32


def test_every_response_gets_a_fresh_request_id(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/api/v1/nothing").headers["X-Request-ID"]
    assert first != second


def test_a_status_has_one_title_whoever_refuses(
    probed: Flask, token: str, make_token: Callable[..., str]
) -> None:
    client = probed.test_client()
    sales = bearer(token, **{"X-Purpose": "sales"})
    answers = {
        # werkzeug's and webargs' refusals, and the vault's own, of the same statuses
        "webargs 422": client.post("/api/v1/probe/items", json={"name": 1}, headers=sales),
        "vault 422": client.post("/api/v1/probe/fail/invalid", headers=sales),
        "werkzeug 400": client.post(
            "/api/v1/probe/items", data="{", headers={**sales, "Content-Type": "application/json"}
        ),
        "vault 400": client.get("/api/v1/probe-customers", headers=bearer(token)),
        "vault 403 forbidden": client.post("/api/v1/probe/fail/forbidden", headers=sales),
        "vault 403 purpose": client.get(
            "/api/v1/probe-customers", headers=bearer(token, **{"X-Purpose": "marketing"})
        ),
        "werkzeug 404": client.get("/api/v1/nowhere", headers=sales),
        "vault 404": client.post("/api/v1/probe/fail/notfound", headers=sales),
        "werkzeug 415": client.post("/api/v1/probe/items", data="x=1", headers={
            **sales, "Content-Type": "application/x-www-form-urlencoded"}),
    }  # fmt: skip
    titles: dict[int, set[str]] = {}
    for response in answers.values():
        body = response.get_json()
        titles.setdefault(body["status"], set()).add(body["title"])
    assert titles == {
        400: {"Bad Request"},
        403: {"Forbidden"},
        404: {"Not Found"},
        415: {"Unsupported Media Type"},
        422: {"Unprocessable Content"},
    }


def test_an_oversized_body_is_titled_as_rfc_9110_names_413(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(max_content_length=64)
    response = app.test_client().post(
        "/api/v1/customers", data="x" * 100, headers={"Content-Type": "application/json"}
    )
    assert assert_problem(response, 413, "payload_too_large")["title"] == "Content Too Large"


def test_a_refused_purpose_is_quoted_cut_short(client: FlaskClient, token: str) -> None:
    purpose = "p" * 8000
    response = client.get("/api/v1/customers", headers=bearer(token, **{"X-Purpose": purpose}))
    body = assert_problem(response, 403, "purpose_not_allowed")
    assert "p" * (QUOTE_LIMIT + 1) not in body["detail"]
    assert "'" + "p" * QUOTE_LIMIT + "\u2026'" in body["detail"]


def test_quoted_input_never_carries_a_control_character() -> None:
    for value in ("a\x00b", "tab\there", "\x1b[31mred", "\x85next", "\u202eevil", "x\ud800"):
        text = quoted(value * 40)
        assert not UNSAFE.search(text), repr(text)
        assert len(text) <= QUOTE_LIMIT + 3  # the quotes and the ellipsis
    assert quoted("sales") == "'sales'"
    assert quoted_list(["a", "b"]) == "'a', 'b'"
    assert quoted_list([str(n) for n in range(20)], limit=2) == "'0', '1', \u2026"


def test_the_names_an_error_shows_are_cut_short(client: FlaskClient, token: str) -> None:
    long_name = "n" * 500
    response = client.post(
        "/api/v1/customers",
        json={"fields": {long_name: "x", "email": "a@example.org"}, "region": "EU"},
        headers=bearer(token, **{"X-Purpose": "sales"}),
    )
    body = assert_problem(response, 422, "validation_failed")
    assert "n" * (QUOTE_LIMIT + 1) not in response.get_data(as_text=True)
    assert "n" * QUOTE_LIMIT + "\u2026" in body["errors"]


def chunked(client: FlaskClient, path: str, body: bytes, **headers: str) -> TestResponse:
    """POST ``body`` without a Content-Length, as a server hands on a chunked body."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked", **headers},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_the_limit_is_413(make_app: Callable[..., Flask]) -> None:
    app = make_app(max_content_length=1024)
    probe.install(app)
    payload = json.dumps({"name": "x" * 4096, "count": 1}).encode()
    for path in ("/api/v1/probe/items", "/privacy/requests"):
        response = chunked(app.test_client(), path, payload, Authorization="Bearer x")
        assert_problem(response, 413, "payload_too_large")


def test_a_chunked_body_within_the_limit_is_read(make_app: Callable[..., Flask]) -> None:
    app = make_app(max_content_length=1024)
    probe.install(app)
    with app.app_context(), db.transaction() as session:
        _client, token = create_api_client(
            session, name="chunks", role="sales", purposes=[], expires_days=None, regions=[],
            now=runtime.now(),
        )  # fmt: skip
    payload = json.dumps({"name": "ok", "count": 1}).encode()
    response = chunked(app.test_client(), "/api/v1/probe/items", payload, **bearer(token))
    assert response.status_code == 201, response.get_json()


@pytest.mark.slow
def test_a_served_vault_answers_413_to_a_chunked_body_over_the_limit(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app()
    with served_vault(app, tmp_path / "served.log", VAULT_MAX_CONTENT_LENGTH="1024") as url:
        connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
        chunks = (b'{"email": "' + b"a" * 512, b"b" * 512, b"c" * 512 + b'", "type": "export"}')
        connection.request(
            "POST", "/privacy/requests", body=iter(chunks), encode_chunked=True,
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )  # fmt: skip
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
    assert response.status == 413
    assert body["code"] == "payload_too_large"
