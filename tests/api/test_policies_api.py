"""/api/v1/roles, /api/v1/policies and /api/v1/policies/explain: run-time policy changes by
admins, applied on the next request, audited, and refused when malformed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS, assert_problem, bearer
from vault.audit.models import AuditEvent
from vault.db import db
from vault.policies.defaults import SHIPPED_RULES


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token(role="admin", name="ops"))


def customer(client: FlaskClient, make_token: Callable[..., str]) -> str:
    sales = bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})
    response = client.post(
        "/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"}, headers=sales
    )
    return str(response.get_json()["id"])


def test_a_new_rule_applies_on_the_next_request_and_can_be_removed(
    client: FlaskClient, make_token: Callable[..., str], admin: dict[str, str], app: Flask
) -> None:
    customer_id = customer(client, make_token)
    support = bearer(make_token(role="support", name="desk"), **{"X-Purpose": "support"})
    assert (
        "company"
        not in client.get(f"/api/v1/customers/{customer_id}", headers=support).get_json()["fields"]
    )
    rule = {
        "role": "support",
        "object": "company",
        "purpose": "support",
        "action": "read",
        "effect": "mask:mask",
    }
    added = client.post("/api/v1/policies", json=rule, headers=admin)
    assert added.status_code == 201
    assert added.get_json()["effect"] == "mask:mask"
    view = client.get(f"/api/v1/customers/{customer_id}", headers=support).get_json()
    assert view["fields"]["company"] == {"value": "A***", "transform": "mask"}
    rules = client.get("/api/v1/policies", headers=admin).get_json()["items"]
    assert len(rules) == len(SHIPPED_RULES) + 1
    removed = client.delete(f"/api/v1/policies/{added.get_json()['id']}", headers=admin)
    assert removed.status_code == 204
    assert (
        "company"
        not in client.get(f"/api/v1/customers/{customer_id}", headers=support).get_json()["fields"]
    )
    with app.app_context():
        changes = db.session.scalars(
            sa.select(AuditEvent.reason).where(AuditEvent.action == "policy.change")
        )
        assert list(changes) == [
            f"added {added.get_json()['id']}",
            f"removed {added.get_json()['id']}",
        ]


@pytest.mark.parametrize("rule_id", [0, 2**31, 2**63, 10**30])
def test_deleting_a_rule_no_rule_can_have_is_404(
    client: FlaskClient, admin: dict[str, str], rule_id: int
) -> None:
    """An id beyond what the rules' INTEGER column holds (PostgreSQL's is 32 bits, SQLite's
    64) is a rule that does not exist, not a 500 from the database."""
    response = client.delete(f"/api/v1/policies/{rule_id}", headers=admin)
    assert_problem(response, 404, "not_found")
    assert len(client.get("/api/v1/policies", headers=admin).get_json()["items"]) == len(
        SHIPPED_RULES
    )


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (
            {
                "role": "nobody",
                "object": "email",
                "purpose": "sales",
                "action": "read",
                "effect": "allow",
            },
            "role",
        ),
        (
            {
                "role": "sales",
                "object": "shoe_size",
                "purpose": "sales",
                "action": "read",
                "effect": "allow",
            },
            "object",
        ),
        (
            {
                "role": "sales",
                "object": "email",
                "purpose": "gossip",
                "action": "read",
                "effect": "allow",
            },
            "purpose",
        ),
        (
            {
                "role": "sales",
                "object": "email",
                "purpose": "sales",
                "action": "read",
                "effect": "mask:blur",
            },
            "effect",
        ),
        (
            {
                "role": "sales",
                "object": "email",
                "purpose": "sales",
                "action": "erase",
                "effect": "allow",
            },
            "action",
        ),
        ({"role": "sales", "object": "email", "purpose": "sales", "action": "read"}, "effect"),
    ],
)
def test_malformed_rules_are_422_and_change_nothing(
    client: FlaskClient, admin: dict[str, str], rule: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/policies", json=rule, headers=admin)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert len(client.get("/api/v1/policies", headers=admin).get_json()["items"]) == len(
        SHIPPED_RULES
    )


def test_only_admins_manage_policies(client: FlaskClient, make_token: Callable[..., str]) -> None:
    for role in ("sales", "compliance_officer", "data_owner"):
        headers = bearer(make_token(role=role))
        assert client.get("/api/v1/policies", headers=headers).status_code == 403
        assert client.get("/api/v1/roles", headers=headers).status_code == 403
        assert (
            client.get(
                "/api/v1/policies/explain?role=sales&purpose=sales", headers=headers
            ).status_code
            == 403
        )
        rule = {
            "role": role,
            "object": "national_id",
            "purpose": "sales",
            "action": "read",
            "effect": "allow",
        }
        assert client.post("/api/v1/policies", json=rule, headers=headers).status_code == 403


def test_explain_shows_the_plan_a_role_would_get(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    plan = client.get("/api/v1/policies/explain?role=sales&purpose=sales", headers=admin).get_json()
    assert plan["fields"]["national_id"] == "mask:last4"
    assert plan["fields"]["birth_date"] == "mask:year"
    assert plan["fields"]["email"] == "plain"
    assert plan["withheld"] == []
    assert "national_id" in plan["creatable"]
    assert "national_id" not in plan["writable"]
    marketing = client.get(
        "/api/v1/policies/explain?role=marketing&purpose=marketing", headers=admin
    ).get_json()
    assert marketing["consent_required"] is True
    assert set(marketing["fields"]) == {"given_name", "family_name", "email", "interests"}
    bad = client.get("/api/v1/policies/explain?role=nobody&purpose=gossip", headers=admin)
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"role", "purpose"}


def test_the_relationship_permission_is_a_rule_object_of_its_own(
    client: FlaskClient, make_token: Callable[..., str], admin: dict[str, str]
) -> None:
    def explain(role: str, purpose: str) -> Any:
        path = f"/api/v1/policies/explain?role={role}&purpose={purpose}"
        return client.get(path, headers=admin).get_json()

    assert explain("sales", "sales")["relationship"] == {"write": True}
    assert explain("support", "support")["relationship"] == {"write": False}
    assert explain("sales", "support")["relationship"] == {"write": False}
    rule = {"role": "support", "object": "relationship", "purpose": "support"}
    for action, effect in (("read", "allow"), ("create", "allow"), ("write", "mask:mask")):
        bad = client.post("/api/v1/policies", json={**rule, "action": action, "effect": effect},
                          headers=admin)  # fmt: skip
        assert bad.status_code == 422, (action, effect)
        assert set(bad.get_json()["errors"]) == {"action"}
    added = client.post("/api/v1/policies", json={**rule, "action": "write", "effect": "allow"},
                        headers=admin)  # fmt: skip
    assert added.status_code == 201, added.get_json()
    assert explain("support", "support")["relationship"] == {"write": True}
    customer_id = customer(client, make_token)
    support = bearer(make_token(role="support", name="desk"), **{"X-Purpose": "support"})
    ended = client.patch(f"/api/v1/customers/{customer_id}", headers=support,
                         json={"relationship_ended_at": None})  # fmt: skip
    assert ended.status_code == 200
    # deny wins over the shipped allow
    denied = {"role": "sales", "object": "relationship", "purpose": "sales", "action": "write",
              "effect": "deny"}  # fmt: skip
    assert client.post("/api/v1/policies", json=denied, headers=admin).status_code == 201
    assert explain("sales", "sales")["relationship"] == {"write": False}
    # no field may take the object's name
    field = {"name": "relationship", "type": "string", "category": "profile",
             "sensitivity": "low"}  # fmt: skip
    clash = client.post("/api/v1/fields", json=field, headers=admin)
    assert clash.status_code == 422
    assert set(clash.get_json()["errors"]) == {"name"}


def test_roles_list_and_inheritance(
    client: FlaskClient, make_token: Callable[..., str], admin: dict[str, str]
) -> None:
    roles = {r["name"]: r for r in client.get("/api/v1/roles", headers=admin).get_json()["items"]}
    assert roles["sales"]["purposes"] == ["sales"]
    assert roles["admin"]["members"]  # the admin token's client
    created = client.post(
        "/api/v1/roles",
        json={
            "name": "team_lead",
            "description": "Support leads",
            "purposes": ["support"],
            "inherits": ["support"],
        },
        headers=admin,
    )
    assert created.status_code == 201
    assert created.get_json()["inherits"] == ["support"]
    customer_id = customer(client, make_token)
    lead = bearer(make_token(role="team_lead", name="lead"), **{"X-Purpose": "support"})
    view = client.get(f"/api/v1/customers/{customer_id}", headers=lead).get_json()
    assert set(view["fields"]) == {"given_name", "family_name", "email", "phone", "postal_address"}
    again = client.post("/api/v1/roles", json={"name": "team_lead"}, headers=admin)
    assert again.status_code == 409
    bad = client.post(
        "/api/v1/roles",
        json={"name": "x y", "purposes": ["gossip"], "inherits": ["nobody"]},
        headers=admin,
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"name", "purposes", "inherits"}
