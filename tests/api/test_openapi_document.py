"""The OpenAPI document tells the truth (API.md §2): it is valid, it lists every route of the
API with each of its methods, each operation names its success response and the errors it
can answer as the problem+json bodies they are, and every route about customer data names
its ``X-Purpose`` header."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.helpers import Tokens, bearer


def _document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def _operations(app: Flask) -> list[tuple[str, str]]:
    """(path as OpenAPI writes it, method) of every route of the API."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("api-docs"):
            continue
        if rule.rule.startswith("/api/v1/docs"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        methods = set(rule.methods or ()) - {"HEAD", "OPTIONS"}
        found += [(path, m.lower()) for m in sorted(methods)]
    return found


def test_the_document_is_valid_and_lists_every_route(app: Flask, client: FlaskClient) -> None:
    document = _document(client)
    validate(document)
    operations = _operations(app)
    assert len(operations) > 40
    for path, method in operations:
        assert method in document["paths"].get(path, {}), f"{method.upper()} {path}"


def test_every_operation_names_its_success_and_its_errors(app: Flask, client: FlaskClient) -> None:
    document = _document(client)
    problems = document["components"]["responses"]
    for path, method in _operations(app):
        operation = document["paths"][path][method]
        codes = set(operation["responses"])
        assert any(c.startswith("2") for c in codes), f"{method.upper()} {path}: no success"
        assert {"401", "403", "503"} <= codes, f"{method.upper()} {path}"
        if "{" in path:
            assert "404" in codes, f"{method.upper()} {path}"
        for code in codes - {c for c in codes if c.startswith("2")}:
            name = operation["responses"][code]["$ref"].rsplit("/", 1)[1]
            assert set(problems[name]["content"]) == {"application/problem+json"}
        if path.startswith("/api/v1/customers"):
            (purpose,) = [p for p in operation["parameters"] if p["name"] == "X-Purpose"]
            assert purpose["in"] == "header"
            assert purpose["required"] is True
            assert "400" in codes
    assert "session" in document["components"]["securitySchemes"]
    assert "Error" not in document["components"]["schemas"]


FILES = {"/api/v1/audit/export"}  # answered with a file (CSV or NDJSON), not a JSON body


def _describes_an_object(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether ``schema`` names the properties of the body: its own, a component's with
    properties, or those of an array's items (a bare ``{"type": "object"}`` names none)."""
    if "$ref" in schema:
        return _describes_an_object(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if schema.get("type") == "array":
        return _describes_an_object(schema.get("items", {}), schemas)
    return bool(schema.get("properties"))


def test_every_success_names_its_body(app: Flask, client: FlaskClient) -> None:
    """Every 2xx answer but a 204 or a file is JSON whose schema says what it holds."""
    document = _document(client)
    schemas = document["components"]["schemas"]
    vague = []
    for path, method in _operations(app):
        for code, answer in document["paths"][path][method]["responses"].items():
            if not code.startswith("2") or code == "204" or path in FILES:
                continue
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if not _describes_an_object(schema, schemas):
                vague.append(f"{method.upper()} {path} {code}")
    assert not vague, vague


def test_a_real_error_body_matches_the_documented_problem(
    client: FlaskClient, tokens: Tokens
) -> None:
    schema = _document(client)["components"]["schemas"]["Problem"]
    answers = [
        client.get("/api/v1/customers", headers=bearer(tokens["sales"])),  # no purpose: 400
        client.get("/api/v1/customers/cus_x", headers={"X-Purpose": "sales"}),  # 401
        client.get(
            "/api/v1/customers?colour=1",
            headers=bearer(tokens["sales"], **{"X-Purpose": "sales"}),
        ),
    ]
    assert [a.status_code for a in answers] == [400, 401, 422]
    for answer in answers:
        assert answer.mimetype == "application/problem+json"
        jsonschema.validate(answer.get_json(), schema)
