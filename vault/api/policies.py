"""``/api/v1/roles`` and ``/api/v1/policies``: roles, their members and inheritance, and the
policy rules, editable at run time by admins. Every change is audited and applies on the next
request in every worker (the policies change stamp)."""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from vault.api.auth import current_principal
from vault.api.idempotency import idempotent
from vault.api.schemas import as_documented, page_schema
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


class RoleSchema(ma.Schema):
    """A role (``vault.governance.policy_admin.RoleView``)."""

    name = ma.fields.String()
    description = ma.fields.String()
    builtin = ma.fields.Boolean(metadata={"description": "shipped by vault init"})
    purposes = ma.fields.List(ma.fields.String())
    inherits = ma.fields.List(ma.fields.String(), metadata={"description": "role names"})
    members = ma.fields.List(ma.fields.String(), metadata={"description": "user ids"})


RolePageSchema = page_schema("RolePageSchema", RoleSchema)


class RuleSchema(ma.Schema):
    """A policy rule (``_rule_dict``)."""

    id = ma.fields.Integer()
    role = ma.fields.String()
    object = ma.fields.String(metadata={"description": "a field, category:<c>, "
                                        "interactions:<kind> or relationship"})  # fmt: skip
    purpose = ma.fields.String()
    action = ma.fields.String(metadata={"description": ", ".join(ACTIONS)})
    effect = ma.fields.String(metadata={"description": "allow, deny or mask:<transform>"})


RulePageSchema = page_schema("RulePageSchema", RuleSchema)


class ReadWriteSchema(ma.Schema):
    read = ma.fields.List(ma.fields.String())
    write = ma.fields.List(ma.fields.String())


class RelationshipPlanSchema(ma.Schema):
    write = ma.fields.Boolean()


class ExplainSchema(ma.Schema):
    """The access plan of a role for a purpose (``explain``)."""

    role = ma.fields.String()
    purpose = ma.fields.String()
    consent_required = ma.fields.Boolean()
    readable = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.String(), data_key="fields",
        metadata={"description": "readable field -> plain or mask:<transform>"},
    )  # fmt: skip
    withheld = ma.fields.List(ma.fields.String())
    writable = ma.fields.List(ma.fields.String())
    creatable = ma.fields.List(ma.fields.String())
    interactions = ma.fields.Nested(ReadWriteSchema, metadata={"description": "kinds"})
    relationship = ma.fields.Nested(RelationshipPlanSchema)


def _role_dict(role: RoleView) -> dict[str, Any]:
    return dataclasses.asdict(role)


@roles_blueprint.get("")
@roles_blueprint.response(200, RolePageSchema)
def list_roles() -> Response:
    """Roles with their purposes, the roles they inherit from and their members (ids)."""
    roles = policy_admin(current_principal()).roles()
    return as_documented({"items": [_role_dict(r) for r in roles], "next_cursor": None})


@roles_blueprint.post("")
@idempotent
@roles_blueprint.arguments(RoleInSchema)
@roles_blueprint.response(201, RoleSchema)
def add_role(body: dict[str, Any]) -> Response:
    """Create a role (admins); 409 when the name exists."""
    return as_documented(_role_dict(policy_admin(current_principal()).create_role(**body)), 201)


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
@policies_blueprint.response(200, RulePageSchema)
def get_rules() -> Response:
    """Every policy rule."""
    rules = policy_admin(current_principal()).rules()
    return as_documented({"items": [_rule_dict(i, r) for i, r in rules], "next_cursor": None})


@policies_blueprint.post("")
@idempotent
@policies_blueprint.arguments(RuleInSchema)
@policies_blueprint.response(201, RuleSchema)
def add_rule(body: dict[str, Any]) -> Response:
    """Add a rule: (role, field or category:<c> or interactions:<kind> or relationship,
    purpose, action) -> allow, deny or mask:<transform>. 422 names what is unknown or
    malformed."""
    rule_id = policy_admin(current_principal()).add_rule(
        body["role"], body["object"], body["purpose"], body["action"], body["effect"]
    )
    effect, transform = parse_effect(body["effect"])
    rule = Rule(body["role"], body["object"], body["purpose"], body["action"], effect, transform)
    return as_documented(_rule_dict(rule_id, rule), 201)


@policies_blueprint.delete("/<int:rule_id>")
@policies_blueprint.response(204)
def delete_rule(rule_id: int) -> None:
    """Remove a rule."""
    policy_admin(current_principal()).remove_rule(rule_id)


@policies_blueprint.get("/explain")
@policies_blueprint.arguments(ExplainQuerySchema, location="query", unknown=ma.RAISE)
@policies_blueprint.response(200, ExplainSchema)
def explain(args: dict[str, Any]) -> Response:
    """The access plan a role would get for a purpose, to check a change before anyone uses it."""
    plan = policy_admin(current_principal()).explain(args["role"], args["purpose"])
    return as_documented(
        {
            "role": args["role"],
            "purpose": args["purpose"],
            "consent_required": plan.consent_required,
            "fields": {
                n: (f"mask:{t}" if t else "plain") for n, t in sorted(plan.readable.items())
            },
            "withheld": list(plan.withheld),
            "writable": sorted(plan.writable),
            "creatable": sorted(plan.creatable),
            "interactions": {
                "read": sorted(plan.interactions_read),
                "write": sorted(plan.interactions_write),
            },
            "relationship": {"write": plan.relationship_write},
        }
    )
