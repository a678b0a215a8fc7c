"""``/api/v1/roles`` and ``/api/v1/policies``: roles, their members and inheritance, and the
policy rules, editable at run time by admins. Every change is audited and applies on the next
request in every worker (the policies change stamp)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask_smorest import Blueprint

from vault import runtime
from vault.api.auth import current_principal
from vault.audit_trail import audit
from vault.auth.models import ApiClient, User
from vault.db import db
from vault.errors import ValidationFailed
from vault.policies.models import Purpose, Role
from vault.policies.plan import ACTIONS, Rule
from vault.policies.service import (
    add_rules,
    create_role,
    effect_of,
    list_rules,
    parse_effect,
    plans,
    remove_rule,
    role_parents,
    validate_rule,
)

roles_blueprint = Blueprint("roles", __name__, url_prefix="/api/v1/roles", description="Roles")
policies_blueprint = Blueprint(
    "policies", __name__, url_prefix="/api/v1/policies", description="Access policy rules"
)


def _require_admin() -> None:
    current_principal().require_role("admin", because="roles and policies are managed by admins")


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


def _role_dict(
    role: Role, parents: dict[str, list[str]], members: dict[str, list[str]]
) -> dict[str, Any]:
    return {
        "name": role.name,
        "description": role.description,
        "builtin": role.builtin,
        "purposes": sorted(p.code for p in role.purposes),
        "inherits": sorted(parents.get(role.name, [])),
        "members": sorted(members.get(role.name, [])),
    }


def _members() -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for user in db.session.scalars(sa.select(User)):
        for role in user.roles:
            members.setdefault(role.name, []).append(user.id)
    for client_id, role_name in db.session.execute(sa.select(ApiClient.id, ApiClient.role_name)):
        members.setdefault(role_name, []).append(client_id)
    return members


@roles_blueprint.get("")
def list_roles() -> dict[str, Any]:
    """Roles with their purposes, the roles they inherit from and their members (ids)."""
    _require_admin()
    parents, members = role_parents(db.session), _members()
    roles = db.session.scalars(sa.select(Role).order_by(Role.name))
    audit("role.read")
    return {"items": [_role_dict(r, parents, members) for r in roles], "next_cursor": None}


@roles_blueprint.post("")
@roles_blueprint.arguments(RoleInSchema)
@roles_blueprint.response(201)
def add_role(body: dict[str, Any]) -> dict[str, Any]:
    """Create a role (admins); 409 when the name exists."""
    _require_admin()
    role = create_role(db.session, **body)
    audit("role.change", reason=f"created {role.name}")
    return _role_dict(role, role_parents(db.session), {})


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
    _require_admin()
    audit("policy.read")
    return {"items": [_rule_dict(i, r) for i, r in list_rules(db.session)], "next_cursor": None}


@policies_blueprint.post("")
@policies_blueprint.arguments(RuleInSchema)
@policies_blueprint.response(201)
def add_rule(body: dict[str, Any]) -> dict[str, Any]:
    """Add a rule: (role, field or category:<c> or interactions:<kind> or relationship,
    purpose, action) -> allow, deny or mask:<transform>. 422 names what is unknown or
    malformed."""
    _require_admin()
    effect, transform = parse_effect(body["effect"])
    rule = Rule(body["role"], body["object"], body["purpose"], body["action"], effect, transform)
    validate_rule(db.session, rule, runtime.customer_store().catalogue)
    (row,) = add_rules(db.session, [rule])
    audit("policy.change", reason=f"added {row.id}")
    return _rule_dict(row.id, rule)


@policies_blueprint.delete("/<int:rule_id>")
@policies_blueprint.response(204)
def delete_rule(rule_id: int) -> None:
    """Remove a rule."""
    _require_admin()
    remove_rule(db.session, rule_id)
    audit("policy.change", reason=f"removed {rule_id}")


@policies_blueprint.get("/explain")
@policies_blueprint.arguments(ExplainQuerySchema, location="query")
def explain(args: dict[str, Any]) -> dict[str, Any]:
    """The access plan a role would get for a purpose, to check a change before anyone uses it."""
    _require_admin()
    errors = {}
    if db.session.get(Role, args["role"]) is None:
        errors["role"] = ["unknown role"]
    if db.session.get(Purpose, args["purpose"]) is None:
        errors["purpose"] = ["unknown purpose"]
    if errors:
        raise ValidationFailed(errors=errors)
    catalogue = runtime.customer_store().catalogue
    plan = plans.plan(db.session, catalogue, frozenset({args["role"]}), args["purpose"])
    audit("policy.explain", reason=f"{args['role']}:{args['purpose']}")
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
