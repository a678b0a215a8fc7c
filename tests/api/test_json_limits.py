"""Request bodies are JSON within limits: nesting depth and number size are refused with a
problem (never a RecursionError or a ValueError escaping as a 500), and what is not JSON is
a 400."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import SAMPLE_FIELDS, assert_problem
from vault.api.json_limits import MAX_DEPTH, MAX_NUMBER_LENGTH, load, too_deep
from vault.customers.models import Customer
from vault.db import db
from vault.errors import ValidationFailed


def post_raw(
    client: FlaskClient, path: str, body: str | bytes, headers: dict[str, str]
) -> TestResponse:
    return client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})


def customers(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) or 0)


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    "body",
    [nested(1000), "[" * 50_000, '{"fields": ' * 1000 + "{}" + "}" * 1000, nested(MAX_DEPTH + 1)],
    ids=["1000 arrays", "50000 open arrays", "1000 objects", "one level too many"],
)
def test_a_body_nested_too_deeply_is_422(
    client: FlaskClient, sales: dict[str, str], app: Flask, body: str
) -> None:
    response = post_raw(client, "/api/v1/customers", body, sales)
    problem = assert_problem(response, 422, "json_too_deep")
    assert problem["errors"] == {"_schema": ["must nest arrays and objects at most 64 levels deep"]}
    assert customers(app) == 0


def test_the_portal_reads_json_within_the_same_limits(client: FlaskClient) -> None:
    response = post_raw(client, "/privacy/requests", "[" * 50_000, {})
    assert_problem(response, 422, "json_too_deep")


def test_a_body_at_the_depth_limit_reaches_the_schema(
    client: FlaskClient, sales: dict[str, str]
) -> None:
    deep = json.loads(nested(MAX_DEPTH - 2))
    body = {"fields": SAMPLE_FIELDS, "region": "EU", "consents": deep}
    response = client.post("/api/v1/customers", json=body, headers=sales)
    problem = assert_problem(response, 422, "validation_failed")
    assert set(problem["errors"]) == {"consents.0._schema"}


@pytest.mark.parametrize("digits", [4301, MAX_NUMBER_LENGTH + 1])
def test_an_integer_too_long_is_422_naming_where_it_stands(
    client: FlaskClient, sales: dict[str, str], app: Flask, digits: int
) -> None:
    body = '{"fields": {"given_name": ' + "7" * digits + '}, "region": "EU"}'
    response = post_raw(client, "/api/v1/customers", body, sales)
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == {
        "fields.given_name": ["must be a number of at most 100 characters"]
    }
    # the number is nowhere in the answer (the request id is random hex: left out)
    shown = {k: v for k, v in problem.items() if k != "request_id"}
    assert "7777" not in json.dumps(shown)
    assert customers(app) == 0


@pytest.mark.parametrize("number", ["1e999", "-1e400", "0." + "5" * 200])
def test_a_number_no_double_holds_is_422(
    client: FlaskClient, sales: dict[str, str], number: str
) -> None:
    body = '{"consents": [{"purpose": "sales", "granted": ' + number + "}]}"
    response = post_raw(client, "/api/v1/customers", body, sales)
    problem = assert_problem(response, 422, "validation_failed")
    assert list(problem["errors"]) == ["consents.0.granted"]


def test_a_number_within_the_limit_reaches_the_schema(
    client: FlaskClient, sales: dict[str, str]
) -> None:
    body = '{"fields": {"given_name": ' + "7" * MAX_NUMBER_LENGTH + '}, "region": "EU"}'
    response = post_raw(client, "/api/v1/customers", body, sales)
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"]["given_name"] == ["must be a string"]  # the catalogue's check


@pytest.mark.parametrize(
    "body",
    ['{"region": NaN}', '{"region": Infinity}', b'{"region": "\xff"}', b"\xef\xbb\xbf{}", "{"],
    ids=["NaN", "Infinity", "not UTF-8", "byte order mark", "cut short"],
)
def test_what_is_not_json_is_400(
    client: FlaskClient, sales: dict[str, str], body: str | bytes
) -> None:
    response = post_raw(client, "/api/v1/customers", body, sales)
    assert_problem(response, 400, "malformed_json")


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"note": "[" * 10_000 + "{" * 10_000, "escaped": '\\"[[[['})
    assert not too_deep(text)
    assert load(text)["note"].startswith("[[[")
    assert too_deep(nested(MAX_DEPTH + 1))
    assert not too_deep(nested(MAX_DEPTH))


def test_every_refused_number_is_named() -> None:
    with pytest.raises(ValidationFailed) as refused:
        load('{"a": [1, ' + "9" * 500 + '], "b": {"c": 1e999}, "d": 2.5}')
    assert refused.value.errors == {
        "a.1": ["must be a number of at most 100 characters"],
        "b.c": ["must be a number within the range of a double"],
    }
    assert load('{"d": 2.5, "e": -12, "f": [true, null]}') == {
        "d": 2.5, "e": -12, "f": [True, None]
    }  # fmt: skip
