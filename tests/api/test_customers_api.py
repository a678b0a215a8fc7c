"""The customers API of API.md §2 through HTTP: scoped views, row filters, writes by plan,
search, consents and interactions."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import SAMPLE_FIELDS, Tokens, events
from tests.helpers import call_customers as call
from tests.helpers import create_customer as create
from vault.customers.models import Customer
from vault.db import db


def test_sales_creates_and_sees_its_scoped_view(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    response = call(
        client, "POST", "", tokens["sales"], "sales", {"fields": SAMPLE_FIELDS, "region": "EU"}
    )
    assert response.status_code == 201
    view = response.get_json()
    assert view["id"].startswith("cus_")
    assert view["region"] == "EU"
    assert view["fields"]["email"] == {"value": "Jeanne.Dupont@example.org", "transform": "none"}
    assert view["fields"]["birth_date"] == {"value": "1984", "transform": "year"}
    assert view["fields"]["national_id"] == {"value": "***9042", "transform": "last4"}
    assert view["withheld"] == []
    (event,) = events(app, action="customer.create")
    assert event.purpose == "sales"
    assert event.customer_ids == view["id"]
    assert "national_id" in event.field_names.split()
    assert "Jeanne" not in json.dumps([str(vars(e)) for e in events(app)])


def test_a_grant_needs_write_access_for_its_own_purpose_a_withdrawal_does_not(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    customer_id = create(client, tokens)
    path = f"/{customer_id}/consents"
    for purpose in ("marketing", "analytics"):  # sales may write, but only for sales
        grant = {"purpose": purpose, "granted": True, "source": "web-form"}
        refused = call(client, "POST", path, tokens["sales"], "sales", grant)
        assert refused.status_code == 403, refused.get_json()
    created = call(client, "POST", "", tokens["sales"], "sales", {
        "fields": {**SAMPLE_FIELDS, "email": "other@example.org"}, "region": "EU",
        "consents": [{"purpose": "marketing", "granted": True}]})  # fmt: skip
    assert created.status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
    consents = call(client, "GET", path, tokens["sales"], "sales").get_json()
    assert consents["purposes"] == {}
    assert (
        call(client, "GET", f"/{customer_id}", tokens["marketing"], "marketing").status_code == 404
    )
    # a withdrawal is open to whoever may read the customer, for any purpose
    withdrawal = {"purpose": "marketing", "granted": False, "source": "phone-call"}
    assert call(client, "POST", path, tokens["sales"], "sales", withdrawal).status_code == 201
    history = call(client, "GET", path, tokens["sales"], "sales").get_json()["purposes"]
    assert history["marketing"]["granted"] is False
    # granting for the request's own purpose, which sales may write, stays open
    own = {"purpose": "sales", "granted": True, "source": "contract"}
    assert call(client, "POST", path, tokens["sales"], "sales", own).status_code == 201


def test_consent_sources_and_interaction_channels_are_codes(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    customer_id = create(client, tokens)
    sales = tokens["sales"]
    for source in ("Jane Dupont in the shop", "jeanne.dupont@example.org ", "Web-Form", ""):
        body = {"purpose": "marketing", "granted": False, "source": source}
        refused = call(client, "POST", f"/{customer_id}/consents", sales, "sales", body)
        assert refused.status_code == 422, source
        assert list(refused.get_json()["errors"]) == ["source"]
        if source:
            assert source.strip() not in json.dumps(refused.get_json())  # never echoed
    assert call(client, "GET", f"/{customer_id}/consents", sales, "sales").get_json()[
        "purposes"] == {}  # fmt: skip
    withdrawal = {"purpose": "marketing", "granted": False, "source": "said so on the 5th"}
    created = call(client, "POST", "", sales, "sales", {
        "fields": {**SAMPLE_FIELDS, "email": "coded@example.org"}, "region": "EU",
        "consents": [withdrawal]})  # fmt: skip
    assert created.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
    call_text = {"kind": "call", "channel": "Call with Jane"}
    refused = call(client, "POST", f"/{customer_id}/interactions", sales, "sales", call_text)
    assert refused.status_code == 422
    assert list(refused.get_json()["errors"]) == ["channel"]
    for channel in ("phone", "crm:eu-1", ""):
        ok = call(client, "POST", f"/{customer_id}/interactions", sales, "sales",
                  {"kind": "call", "channel": channel})  # fmt: skip
        assert ok.status_code == 201, channel


def test_support_sees_contact_data_and_withheld_names(client: FlaskClient, tokens: Tokens) -> None:
    customer_id = create(client, tokens)
    view = call(client, "GET", f"/{customer_id}", tokens["support"], "support").get_json()
    assert set(view["fields"]) == {"given_name", "family_name", "email", "phone", "postal_address"}
    assert set(view["withheld"]) == {
        "birth_date",
        "national_id",
        "job_title",
        "company",
        "interests",
    }
    assert "FR-1840375019042" not in json.dumps(view)


def test_a_marketing_client_sees_a_customer_only_while_its_consent_is_active(
    client: FlaskClient, tokens: Tokens, optin_token: str
) -> None:
    customer_id = create(client, tokens)

    def as_marketing(method: str, path: str = "", body: Any = None) -> TestResponse:
        return call(client, method, path, tokens["marketing"], "marketing", body)

    assert as_marketing("GET", f"/{customer_id}").status_code == 404
    granted = {
        "purpose": "marketing",
        "granted": True,
        "source": "web-form",
        "notice_version": "v3",
    }
    assert (
        call(client, "POST", f"/{customer_id}/consents", optin_token, "sales", granted).status_code
        == 201
    )
    view = as_marketing("GET", f"/{customer_id}").get_json()
    assert set(view["fields"]) == {"given_name", "family_name", "email", "interests"}
    listed = as_marketing("GET").get_json()
    assert [c["id"] for c in listed["items"]] == [customer_id]
    withdrawn = {"purpose": "marketing", "granted": False, "source": "unsubscribe-link"}
    assert as_marketing("POST", f"/{customer_id}/consents", withdrawn).status_code == 201
    assert as_marketing("GET", f"/{customer_id}").status_code == 404
    assert as_marketing("GET").get_json()["items"] == []


def test_granting_consent_needs_write_access(
    client: FlaskClient, tokens: Tokens, optin_token: str
) -> None:
    customer_id = create(
        client,
        {**tokens, "sales": optin_token},
        consents=[{"purpose": "marketing", "granted": True}],
    )
    grant = {"purpose": "analytics", "granted": True}
    response = call(
        client, "POST", f"/{customer_id}/consents", tokens["marketing"], "marketing", grant
    )
    assert response.status_code == 403
    consents = call(client, "GET", f"/{customer_id}/consents", tokens["sales"], "sales").get_json()
    assert consents["purposes"]["marketing"]["granted"] is True
    assert "analytics" not in consents["purposes"]


def test_a_region_limited_principal_never_sees_another_region(
    client: FlaskClient, tokens: Tokens
) -> None:
    eu = create(client, tokens)
    us = create(client, tokens, region="US", fields={"email": "us@example.org"})
    limited = tokens["sales_us"]
    assert call(client, "GET", f"/{eu}", limited, "sales").status_code == 404
    assert call(client, "GET", f"/{us}", limited, "sales").status_code == 200
    assert [c["id"] for c in call(client, "GET", "", limited, "sales").get_json()["items"]] == [us]
    found = call(
        client, "POST", "/search", limited, "sales", {"email": SAMPLE_FIELDS["email"]}
    ).get_json()
    assert found["items"] == []
    create_eu = call(
        client,
        "POST",
        "",
        limited,
        "sales",
        {"fields": {**SAMPLE_FIELDS, "email": "x@example.org"}, "region": "EU"},
    )
    assert create_eu.status_code == 403


def test_an_invisible_customer_is_indistinguishable_from_an_unknown_one(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    customer_id = create(client, tokens)
    with app.app_context(), db.transaction() as session:
        session.execute(
            sa.update(Customer).where(Customer.id == customer_id).values(status="erased")
        )
    erased = call(client, "GET", f"/{customer_id}", tokens["sales"], "sales")
    unknown = call(client, "GET", "/cus_" + "0" * 32, tokens["sales"], "sales")
    assert erased.status_code == unknown.status_code == 404

    def strip(r: TestResponse) -> dict[str, Any]:
        return {k: v for k, v in r.get_json().items() if k != "request_id"}

    assert strip(erased) == strip(unknown)
    assert [e.reason for e in events(app, outcome="denied")] == ["not_found", "not_found"]


def test_a_duplicate_email_is_409_with_the_id_only_for_those_who_may_see_it(
    client: FlaskClient, tokens: Tokens
) -> None:
    existing = create(client, tokens)
    body = {"fields": {**SAMPLE_FIELDS, "email": SAMPLE_FIELDS["email"].upper()}, "region": "US"}
    seen = call(client, "POST", "", tokens["sales"], "sales", body)
    assert seen.status_code == 409
    assert seen.get_json()["existing_id"] == existing
    unseen = call(client, "POST", "", tokens["sales_us"], "sales", body)
    assert unseen.status_code == 409
    assert "existing_id" not in unseen.get_json()
    assert SAMPLE_FIELDS["email"].upper() not in unseen.get_data(as_text=True)


def test_writes_follow_the_plan(client: FlaskClient, tokens: Tokens) -> None:
    customer_id = create(client, tokens)

    def patch(system: str, fields: dict[str, str]) -> TestResponse:
        """``fields`` changed by ``system`` (its token) for its own purpose."""
        return call(client, "PATCH", f"/{customer_id}", tokens[system], system, {"fields": fields})

    changed = patch("sales", {"job_title": "CTO"})
    assert changed.get_json()["fields"]["job_title"]["value"] == "CTO"
    refused = patch("support", {"job_title": "Intern"})
    assert refused.status_code == 403
    assert "job_title" in refused.get_json()["detail"]
    assert "Intern" not in refused.get_data(as_text=True)
    phone = patch("support", {"phone": "+33 1 42 68 53 00"})
    assert phone.get_json()["fields"]["phone"]["value"] == "+33142685300"
    sensitive = patch("sales", {"national_id": "X-1"})
    assert sensitive.status_code == 403
    support_create = call(
        client, "POST", "", tokens["support"], "support", {"fields": SAMPLE_FIELDS, "region": "EU"}
    )
    assert support_create.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fields": {**SAMPLE_FIELDS, "shoe_size": "44"}, "region": "EU"}, "shoe_size"),
        ({"fields": {**SAMPLE_FIELDS, "email": "not-an-email"}, "region": "EU"}, "email"),
        ({"fields": {**SAMPLE_FIELDS, "phone": "12"}, "region": "EU"}, "phone"),
        ({"fields": {**SAMPLE_FIELDS, "job_title": "x" * 101}, "region": "EU"}, "job_title"),
        ({"fields": {"email": "a@example.org"}, "region": "EU"}, "given_name"),
        ({"fields": SAMPLE_FIELDS, "region": "Mars"}, "region"),
        ({"fields": SAMPLE_FIELDS}, "region"),
    ],
)
def test_bad_input_is_422_naming_fields_without_values_and_writes_nothing(
    client: FlaskClient, tokens: Tokens, body: dict[str, Any], field: str
) -> None:
    response = call(client, "POST", "", tokens["sales"], "sales", body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    text = response.get_data(as_text=True)
    for value in ("not-an-email", "x" * 101, "Jeanne", "Dupont"):
        assert value not in text
    assert call(client, "GET", "", tokens["sales"], "sales").get_json()["items"] == []


def test_search_finds_an_email_typed_in_another_case(client: FlaskClient, tokens: Tokens) -> None:
    customer_id = create(client, tokens)
    found = call(
        client,
        "POST",
        "/search",
        tokens["support"],
        "support",
        {"email": "JEANNE.dupont@example.ORG"},
    ).get_json()
    assert [c["id"] for c in found["items"]] == [customer_id]
    assert "birth_date" in found["items"][0]["withheld"]
    by_phone = call(
        client, "POST", "/search", tokens["sales"], "sales", {"phone": "+44 20 7946 0958"}
    ).get_json()
    assert [c["id"] for c in by_phone["items"]] == [customer_id]
    both = call(
        client,
        "POST",
        "/search",
        tokens["sales"],
        "sales",
        {"email": "a@example.org", "phone": "+442079460958"},
    )
    assert both.status_code == 422


def test_pages_of_customers(client: FlaskClient, tokens: Tokens, clock: Any) -> None:
    ids = []
    for i in range(3):
        clock.advance(seconds=1)
        ids.append(create(client, tokens, fields={"email": f"p{i}@example.org"}))
    first = call(client, "GET", "?limit=2", tokens["sales"], "sales").get_json()
    second = call(
        client, "GET", f"?limit=2&cursor={first['next_cursor']}", tokens["sales"], "sales"
    ).get_json()
    assert [c["id"] for c in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None
    assert call(client, "GET", "?limit=501", tokens["sales"], "sales").status_code == 422


def test_interactions_by_kind(client: FlaskClient, tokens: Tokens) -> None:
    customer_id = create(client, tokens)
    path = f"/{customer_id}/interactions"

    def add(system: str, interaction: dict[str, str]) -> TestResponse:
        return call(client, "POST", path, tokens[system], system, interaction)

    def seen_by(system: str) -> Any:
        return call(client, "GET", path, tokens[system], system).get_json()["items"]

    ticket = {"kind": "support_ticket", "channel": "phone", "text": "Kiln arrived cracked"}
    added = add("support", ticket)
    assert added.status_code == 201
    assert added.get_json()["text"] == "Kiln arrived cracked"
    purchase = {"kind": "purchase", "amount": "129.90", "currency": "EUR", "channel": "web"}
    assert add("sales", purchase).status_code == 201
    assert add("sales", ticket).status_code == 403
    assert [i["kind"] for i in seen_by("support")] == ["support_ticket"]
    assert [(i["kind"], i["amount"]) for i in seen_by("sales")] == [("purchase", "129.90")]
