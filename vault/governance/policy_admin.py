"""Roles and policy rules as admins manage them: roles with their purposes, inheritance and
members, the rules, adding and removing one, and the plan a role would get for a purpose.
Only admins; each call records its audit event in the caller's transaction (it flushes, the
caller commits), each change inside a savepoint (a refused change leaves nothing behind)."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.auth.bound import CatalogueService
from vault.auth.models import ApiClient, User
from vault.errors import ValidationFailed
from vault.policies.catalogue import FieldCatalogue
from vault.policies.models import Purpose, Role
from vault.policies.plan import AccessPlan, Rule
from vault.policies.service import (
    add_rules,
    create_role,
    list_rules,
    parse_effect,
    plans,
    remove_rule,
    role_parents,
    validate_rule,
)


@dataclasses.dataclass(frozen=True)
class RoleView:
    """A role as admins see it: its purposes, the roles it inherits from, its members."""

    name: str
    description: str
    builtin: bool
    purposes: list[str]
    inherits: list[str]
    members: list[str]


class PolicyAdmin(CatalogueService[FieldCatalogue]):
    """The roles and policy rules, as ``principal`` (an admin) may manage them."""

    ADMINS_ONLY = "roles and policies are managed by admins"

    def _admin(self) -> None:
        self.principal.require_role("admin", because=self.ADMINS_ONLY)

    def _members(self) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {}
        for user in self.session.scalars(sa.select(User)):
            for role in user.roles:
                members.setdefault(role.name, []).append(user.id)
        clients = self.session.execute(sa.select(ApiClient.id, ApiClient.role_name))
        for client_id, role_name in clients:
            members.setdefault(role_name, []).append(client_id)
        return members

    def _views(self, roles: list[Role], members: dict[str, list[str]]) -> list[RoleView]:
        parents = role_parents(self.session)
        return [
            RoleView(r.name, r.description, r.builtin, sorted(p.code for p in r.purposes),
                     sorted(parents.get(r.name, [])), sorted(members.get(r.name, [])))
            for r in roles
        ]  # fmt: skip

    def _roles(self) -> list[Role]:
        return list(self.session.scalars(sa.select(Role).order_by(Role.name)))

    def roles(self, *, action: str = "role.read") -> list[RoleView]:
        """Every role, by name, with its members (recorded as ``action``)."""
        self._admin()
        views = self._views(self._roles(), self._members())
        self.record(action)
        return views

    def rules(self, *, action: str = "policy.read") -> list[tuple[int, Rule]]:
        """Every policy rule with its id, oldest first (recorded as ``action``)."""
        self._admin()
        found = list_rules(self.session)
        self.record(action)
        return found

    def overview(self) -> tuple[list[RoleView], list[tuple[int, Rule]]]:
        """The roles and the rules together, recorded as one ``policy.read`` (a page)."""
        self._admin()
        self.record("policy.read")
        return self._views(self._roles(), {}), list_rules(self.session)

    def create_role(self, **role: Any) -> RoleView:
        """A new role (``name``, ``description``, ``purposes``, ``inherits``); ``Conflict``
        when the name exists."""
        self._admin()
        with self.session.begin_nested():
            created = create_role(self.session, **role)
            self.record("role.change", reason=f"created {created.name}")
        return self._views([created], {})[0]

    def add_rule(self, role: str, obj: str, purpose: str, action: str, effect: str) -> int:
        """Add a rule; returns its id. ``ValidationFailed`` names what is unknown or malformed."""
        self._admin()
        allow, transform = parse_effect(effect)
        rule = Rule(role, obj, purpose, action, allow, transform)
        validate_rule(self.session, rule, self._catalogue())
        with self.session.begin_nested():
            (row,) = add_rules(self.session, [rule])
            self.record("policy.change", reason=f"added {row.id}")
        return row.id

    def remove_rule(self, rule_id: int) -> None:
        """Remove a rule; ``NotFound`` for no such rule."""
        self._admin()
        with self.session.begin_nested():
            remove_rule(self.session, rule_id)
            self.record("policy.change", reason=f"removed {rule_id}")

    def explain(self, role: str, purpose: str) -> AccessPlan:
        """The plan ``role`` would get for ``purpose``, to check a change before anyone uses it."""
        self._admin()
        errors = {}
        if self.session.get(Role, role) is None:
            errors["role"] = ["unknown role"]
        if self.session.get(Purpose, purpose) is None:
            errors["purpose"] = ["unknown purpose"]
        if errors:
            raise ValidationFailed(errors=errors)
        plan = plans.plan(self.session, self._catalogue(), frozenset({role}), purpose)
        self.record("policy.explain", reason=f"{role}:{purpose}")
        return plan


def rule_choices(session: Session) -> tuple[list[str], list[str]]:
    """The role names and purpose codes a rule may name (a form's choices)."""
    roles = list(session.scalars(sa.select(Role.name).order_by(Role.name)))
    purposes = list(session.scalars(sa.select(Purpose.code).order_by(Purpose.code)))
    return roles, purposes
