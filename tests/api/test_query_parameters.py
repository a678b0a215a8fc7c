"""Unknown query parameters on list routes are refused (422), not ignored: a filter the
vault does not know must not look as if it had been applied."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.helpers import Tokens, assert_problem, bearer


def test_an_unknown_query_parameter_on_the_customer_list_is_a_422(
    client: FlaskClient, tokens: Tokens
) -> None:
    headers = bearer(tokens["sales"], **{"X-Purpose": "sales"})
    assert client.get("/api/v1/customers?limit=5", headers=headers).status_code == 200
    refused = client.get("/api/v1/customers?limit=5&colour=EU", headers=headers)
    body = assert_problem(refused, 422, "validation_failed")
    assert "colour" in str(body["errors"])
    assert "EU" not in str(body)  # the value is not echoed


@pytest.mark.parametrize(
    "path",
    ["/api/v1/audit/events", "/api/v1/clients", "/api/v1/users", "/api/v1/subscriptions",
     "/api/v1/legal-holds", "/api/v1/privacy-requests"],
)  # fmt: skip
def test_every_list_refuses_an_unknown_query_parameter(
    client: FlaskClient, make_token: Callable[..., str], path: str
) -> None:
    headers = bearer(make_token(role="admin", name="ops"))
    response = client.get(f"{path}?colour=EU", headers=headers)
    if response.status_code == 403:  # a list of the compliance officer's
        headers = bearer(make_token(role="compliance_officer", name="dpo"))
        response = client.get(f"{path}?colour=EU", headers=headers)
    assert_problem(response, 422, "validation_failed")
