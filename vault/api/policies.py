"""``/api/v1/roles`` and ``/api/v1/policies``: roles, their members and inheritance, and the
policy rules, editable at run time by admins. Every change is audited and applies on the next
request in every worker (the policies change stamp)."""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from vault.api.auth import current_principal
from vault.api.idempotency import idempotent
from vault.governance.policy_admin import RoleView
from vault.policies.plan import ACTIONS, Rule
from vault.policies.service import effect_of, parse_effect
from vault.services import policy_admin

roles_blueprint = Blueprint("roles", __name__, url_prefix="/api/v1/roles", description="Roles")
policies_blueprint = Blueprint(
    "policies", __name__, url_prefix="/api/v1/policies", description="Access policy rules"
)


class RoleInSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=64))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    purposes = ma.fields.List(ma.fields.String(), load_default=list)
    inherits = ma.fields.List(ma.fields.String(), load_default=list)


class RuleInSchema(ma.Schema):
    role = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    object = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128))
    purpose = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTIONS))
    effect = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))


class ExplainQuerySchema(ma.Schema):
    role = ma.fields.String(required=True)
    purpose = ma.fields.String(required=True)


def _role_dict(role: RoleView) -> dict[str, Any]:
    return dataclasses.asdict(role)


@roles_blueprint.get("")
def list_roles() -> dict[str, Any]:
    """Roles with their purposes, the roles they inherit from and their members (ids)."""
    roles = policy_admin(current_principal()).roles()
    return {"items": [_role_dict(r) for r in roles], "next_cursor": None}


@roles_blueprint.post("")
@idempotent
@roles_blueprint.arguments(RoleInSchema)
@roles_blueprint.response(201)
def add_role(body: dict[str, Any]) -> dict[str, Any]:
    """Create a role (admins); 409 when the name exists."""
    return _role_dict(policy_admin(current_principal()).create_role(**body))


def _rule_dict(rule_id: int, rule: Rule) -> dict[str, Any]:
    return {
        "id": rule_id,
        "role": rule.role,
        "object": rule.obj,
        "purpose": rule.purpose,
        "action": rule.action,
        "effect": effect_of(rule),
    }


@policies_blueprint.get("")
def get_rules() -> dict[str, Any]:
    """Every policy rule."""
    rules = policy_admin(current_principal()).rules()
    return {"items": [_rule_dict(i, r) for i, r in rules], "next_cursor": None}


@policies_blueprint.post("")
@idempotent
@policies_blueprint.arguments(RuleInSchema)
@policies_blueprint.response(201)
def add_rule(body: dict[str, Any]) -> dict[str, Any]:
    """Add a rule: (role, field or category:<c> or interactions:<kind> or relationship,
    purpose, action) -> allow, deny or mask:<transform>. 422 names what is unknown or
    malformed."""
    rule_id = policy_admin(current_principal()).add_rule(
        body["role"], body["object"], body["purpose"], body["action"], body["effect"]
    )
    effect, transform = parse_effect(body["effect"])
    rule = Rule(body["role"], body["object"], body["purpose"], body["action"], effect, transform)
    return _rule_dict(rule_id, rule)


@policies_blueprint.delete("/<int:rule_id>")
@policies_blueprint.response(204)
def delete_rule(rule_id: int) -> None:
    """Remove a rule."""
    policy_admin(current_principal()).remove_rule(rule_id)


@policies_blueprint.get("/explain")
@policies_blueprint.arguments(ExplainQuerySchema, location="query", unknown=ma.RAISE)
def explain(args: dict[str, Any]) -> dict[str, Any]:
    """The access plan a role would get for a purpose, to check a change before anyone uses it."""
    plan = policy_admin(current_principal()).explain(args["role"], args["purpose"])
    return {
        "role": args["role"],
        "purpose": args["purpose"],
        "consent_required": plan.consent_required,
        "fields": {n: (f"mask:{t}" if t else "plain") for n, t in sorted(plan.readable.items())},
        "withheld": list(plan.withheld),
        "writable": sorted(plan.writable),
        "creatable": sorted(plan.creatable),
        "interactions": {
            "read": sorted(plan.interactions_read),
            "write": sorted(plan.interactions_write),
        },
        "relationship": {"write": plan.relationship_write},
    }
