"""Every error is application/problem+json with its status and code, carries the request id,
echoes no submitted value, and leaves the database unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import probe
from tests.conftest import bearer

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


@pytest.fixture
def probed(app: Flask) -> Flask:
    probe.install(app)
    return app


@pytest.fixture
def token(make_token: Callable[..., str]) -> str:
    return make_token(role="sales")


def assert_problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["type"].endswith(code)
    return body


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
