"""/api/v1/fields: read by anyone authenticated, extended by admins only."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient

from tests.helpers import bearer

NEW_FIELD = {
    "name": "loyalty_tier",
    "type": "string",
    "category": "profile",
    "sensitivity": "low",
    "max_length": 20,
}


def test_the_shipped_catalogue_is_listed(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    body = client.get("/api/v1/fields", headers=bearer(make_token(role="sales"))).get_json()
    by_name = {f["name"]: f for f in body["items"]}
    assert set(by_name) >= {
        "given_name", "family_name", "email", "phone", "postal_address",
        "birth_date", "national_id", "job_title", "company", "interests",
    }  # fmt: skip
    assert by_name["email"]["searchable"]
    assert by_name["email"]["unique"]
    assert by_name["phone"]["searchable"]
    assert not by_name["phone"]["unique"]
    assert by_name["national_id"]["category"] == "sensitive"
    assert by_name["birth_date"]["category"] == "demographic"
    assert body["next_cursor"] is None


def test_an_admin_adds_a_field(client: FlaskClient, make_token: Callable[..., str]) -> None:
    token = make_token(role="admin")
    response = client.post("/api/v1/fields", json=NEW_FIELD, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == "loyalty_tier"
    names = [
        f["name"] for f in client.get("/api/v1/fields", headers=bearer(token)).get_json()["items"]
    ]
    assert "loyalty_tier" in names
    again = client.post("/api/v1/fields", json=NEW_FIELD, headers=bearer(token))
    assert again.status_code == 409


def test_only_admins_extend_the_catalogue(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    response = client.post(
        "/api/v1/fields", json=NEW_FIELD, headers=bearer(make_token(role="sales"))
    )
    assert response.status_code == 403
    names = [
        f["name"]
        for f in client.get("/api/v1/fields", headers=bearer(make_token())).get_json()["items"]
    ]
    assert "loyalty_tier" not in names


def test_a_bad_definition_is_422_and_changes_nothing(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    token = make_token(role="admin")
    for body, field in [
        ({**NEW_FIELD, "type": "colour"}, "type"),
        ({**NEW_FIELD, "name": "Bad Name"}, "name"),
        ({**NEW_FIELD, "unique": True}, "unique"),
        ({**NEW_FIELD, "required": True}, "required"),
    ]:
        response = client.post("/api/v1/fields", json=body, headers=bearer(token))
        assert response.status_code == 422, body
        assert field in response.get_json()["errors"]
    names = [
        f["name"] for f in client.get("/api/v1/fields", headers=bearer(token)).get_json()["items"]
    ]
    assert "loyalty_tier" not in names


def test_each_field_names_the_owner_of_its_category(
    client: FlaskClient, make_token: Callable[..., str], make_user: Callable[..., str]
) -> None:
    admin = bearer(make_token(role="admin"))
    owner = make_user("owner@example.com", roles=("data_owner",))
    assigned = client.put("/api/v1/ownership/contact", json={"user_id": owner}, headers=admin)
    assert assigned.status_code == 200, assigned.get_json()
    fields = client.get("/api/v1/fields", headers=admin).get_json()["items"]
    owner_of = {f["name"]: f["owner"] for f in fields}
    assert owner_of["email"] == owner_of["phone"] == owner
    assert owner_of["national_id"] is None
    added = client.post("/api/v1/fields", json={**NEW_FIELD, "category": "contact"}, headers=admin)
    assert added.get_json()["owner"] == owner
