"""Conditional updates (API.md §2): ``GET /customers/{id}`` answers with the version of the
record as its ``ETag``; a ``PATCH`` with a stale ``If-Match`` is refused with 412, audited,
and changes nothing; without ``If-Match`` it goes ahead."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import Tokens, assert_problem, bearer, events
from tests.helpers import create_customer as create


def _get(client: FlaskClient, tokens: Tokens, customer_id: str) -> tuple[str, dict[str, Any]]:
    response = client.get(f"/api/v1/customers/{customer_id}",
                          headers=bearer(tokens["sales"], **{"X-Purpose": "sales"}))  # fmt: skip
    assert response.status_code == 200
    etag = response.headers["ETag"]
    assert etag.startswith('"')  # a strong tag
    assert etag.endswith('"')
    assert len(etag) > 10
    return etag, response.get_json()


def _patch(client: FlaskClient, tokens: Tokens, customer_id: str, company: str,
           **headers: str) -> TestResponse:  # fmt: skip
    return client.patch(
        f"/api/v1/customers/{customer_id}", json={"fields": {"company": company}},
        headers=bearer(tokens["sales"], **{"X-Purpose": "sales"}, **headers),
    )  # fmt: skip


def test_a_stale_if_match_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    customer_id = create(client, tokens)
    first, _view = _get(client, tokens, customer_id)
    assert _get(client, tokens, customer_id)[0] == first  # the same record, the same tag
    updated = _patch(client, tokens, customer_id, "Acme", **{"If-Match": first})
    assert updated.status_code == 200, updated.get_json()
    second = updated.headers["ETag"]
    assert second != first
    assert _get(client, tokens, customer_id)[0] == second
    # another writer's tag, now stale
    stale = _patch(client, tokens, customer_id, "Beta", **{"If-Match": first})
    body = assert_problem(stale, 412, "precondition_failed")
    assert "Beta" not in str(body)
    assert _get(client, tokens, customer_id)[1]["fields"]["company"]["value"] == "Acme"
    (refusal,) = events(app, action="customer.update", outcome="denied")
    assert refusal.reason == "if_match:stale"
    assert refusal.customer_ids == customer_id
    # one of several tags, or any
    listed = _patch(client, tokens, customer_id, "Gamma", **{"If-Match": f"{first}, {second}"})
    assert listed.status_code == 200
    assert _patch(client, tokens, customer_id, "Delta", **{"If-Match": "*"}).status_code == 200


def test_without_if_match_an_update_goes_ahead_and_a_weak_tag_never_matches(
    client: FlaskClient, tokens: Tokens
) -> None:
    customer_id = create(client, tokens)
    etag, _view = _get(client, tokens, customer_id)
    assert _patch(client, tokens, customer_id, "Acme").status_code == 200
    etag, _view = _get(client, tokens, customer_id)
    weak = _patch(client, tokens, customer_id, "Beta", **{"If-Match": f"W/{etag}"})
    assert_problem(weak, 412, "precondition_failed")


def test_a_customer_the_caller_cannot_see_is_404_whatever_the_tag(
    client: FlaskClient, tokens: Tokens
) -> None:
    response = _patch(client, tokens, "cus_" + "0" * 32, "Acme", **{"If-Match": '"x"'})
    assert_problem(response, 404, "not_found")


def test_the_openapi_document_tells_of_the_tag_and_the_precondition(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    one = spec["paths"]["/api/v1/customers/{customer_id}"]
    assert "ETag" in one["get"]["responses"]["200"]["headers"]
    assert "ETag" in one["patch"]["responses"]["200"]["headers"]
    assert "412" in one["patch"]["responses"]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in one["patch"]["parameters"])
