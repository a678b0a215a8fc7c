"""The policy store and the plan cache.

Rules live in ``casbin_rule`` and are loaded by pycasbin through ``sqlalchemy_adapter``
on the caller's connection; changes are written in the caller's transaction (with their audit
event) and replace the ``policies`` change stamp, so every worker process recompiles on its
next request.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path

import casbin
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy_adapter import Adapter

from vault.errors import Conflict, NotFound, ValidationFailed, quoted_list
from vault.policies import versions
from vault.policies.catalogue import RELATIONSHIP, FieldCatalogue
from vault.policies.defaults import ADDED_RULES, SHIPPED_RULES, SHIPPED_VERSION
from vault.policies.models import MAX_RULE_ID, ChangeCounter, PolicyRule, Purpose, Role
from vault.policies.plan import ACTIONS, AccessPlan, Rule, compile_plan
from vault.policies.transforms import TRANSFORMS

COUNTER = "policies"
MODEL_PATH = Path(__file__).with_name("casbin_model.conf")
EFFECTS = ("allow", "deny")
# How a plain (unmasked) rule stores its transform: the adapter drops trailing empty values,
# and every rule must keep all six for pycasbin.
STORED_PLAIN = "none"
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
# Which release of the shipped rules the store has been seeded with (a row of the change
# counters' table, so that no migration is needed for it): see ``seed_policies``.
SHIPPED_MARK = "policies_shipped"


def load_enforcer(session: Session) -> casbin.Enforcer:
    """A pycasbin enforcer over the rules as this session sees them."""
    adapter = Adapter(session.connection(), db_class=PolicyRule, create_table=False)
    return casbin.Enforcer(str(MODEL_PATH), adapter)


class _PolicySnapshot:
    """Rules, role graph and purposes at one stamp."""

    def __init__(self, session: Session) -> None:
        enforcer = load_enforcer(session)
        self.rules = [
            Rule(row[0], row[1], row[2], row[3], row[4], "" if row[5] == STORED_PLAIN else row[5])
            for row in enforcer.get_policy()
        ]
        self.enforcer = enforcer
        self.consent_purposes = frozenset(
            session.scalars(sa.select(Purpose.code).where(Purpose.legal_basis == "consent"))
        )
        self.purposes = frozenset(session.scalars(sa.select(Purpose.code)))

    def closure(self, roles: Iterable[str]) -> frozenset[str]:
        closed = set(roles)
        for role in roles:
            closed.update(self.enforcer.get_implicit_roles_for_user(role))
        return frozenset(closed)


class PlanCache:
    """Compiled plans per (database, policy stamp, catalogue stamp, roles, purpose)."""

    MAX_PLANS = 2048

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[tuple[str, int], _PolicySnapshot] = {}
        self._plans: dict[tuple[object, ...], AccessPlan] = {}

    def plan(
        self,
        session: Session,
        catalogue: FieldCatalogue,
        roles: frozenset[str],
        purpose: str,
        *,
        stamp: int | None = None,
    ) -> AccessPlan:
        """The plan for ``roles`` and ``purpose``; ``stamp`` is the policies change stamp when
        the caller has read it already this request (otherwise it is read here)."""
        if stamp is None:
            stamp = versions.current(session, COUNTER)
        database = versions.database_of(session)
        key = (database, stamp, catalogue.version, roles, purpose)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        snapshot = self._snapshots.get((database, stamp))
        if snapshot is None:
            snapshot = _PolicySnapshot(session)
        plan = compile_plan(
            snapshot.rules,
            snapshot.closure(roles),
            purpose,
            catalogue,
            consent_required=purpose in snapshot.consent_purposes,
        )
        with self._lock:
            if len(self._plans) >= self.MAX_PLANS:
                self._plans.clear()
            self._snapshots = {
                k: v for k, v in self._snapshots.items() if k[0] != database or k[1] == stamp
            }
            self._snapshots[(database, stamp)] = snapshot
            self._plans[key] = plan
        return plan


plans = PlanCache()


def validate_rule(session: Session, rule: Rule, catalogue: FieldCatalogue) -> None:
    """Raises ``ValidationFailed`` naming what is wrong: unknown role, field, category,
    interaction kind or purpose, or a malformed action, effect or transform (``relationship``
    takes only ``write``, without a mask)."""
    errors: dict[str, list[str]] = {}
    if session.get(Role, rule.role) is None:
        errors["role"] = ["unknown role"]
    if session.get(Purpose, rule.purpose) is None:
        errors["purpose"] = ["unknown purpose"]
    if rule.action not in ACTIONS:
        errors["action"] = [f"must be one of {', '.join(ACTIONS)}"]
    if rule.effect not in EFFECTS:
        errors["effect"] = ["must be allow, deny or mask:<transform>"]
    if rule.transform and (rule.transform not in TRANSFORMS or rule.effect != "allow"):
        errors["effect"] = [f"a mask must be mask:<{'|'.join(TRANSFORMS)}>"]
    kind, _, name = rule.obj.partition(":")
    categories = {spec.category for spec in catalogue.fields.values()}
    if rule.obj == RELATIONSHIP:
        if rule.action != "write" or rule.transform:
            errors["action"] = [f"{RELATIONSHIP} takes the action write, allowed or denied"]
    elif name and kind == "category" and name not in categories:
        errors["object"] = ["unknown category"]
    elif name and kind == "interactions" and name not in catalogue.interaction_kinds:
        errors["object"] = ["unknown interaction kind"]
    elif name and kind not in ("category", "interactions"):
        errors["object"] = [
            f"must be a field, category:<name>, interactions:<kind> or {RELATIONSHIP}"
        ]
    elif not name and rule.obj not in catalogue:
        errors["object"] = ["unknown field"]
    if errors:
        raise ValidationFailed("the policy rule is invalid", errors=errors)


def add_rules(session: Session, rules: Iterable[Rule]) -> list[PolicyRule]:
    """Store rules (already validated) and mark the policies changed."""
    rows = [
        PolicyRule(
            ptype="p",
            v0=r.role,
            v1=r.obj,
            v2=r.purpose,
            v3=r.action,
            v4=r.effect,
            v5=r.transform or STORED_PLAIN,
        )
        for r in rules
    ]
    session.add_all(rows)
    session.flush()
    versions.bump(session, COUNTER)
    return rows


def seed_policies(session: Session) -> list[str]:
    """Load the shipped rules into an empty policy store; into one seeded by an earlier
    release, add the rules each later release shipped (once: a rule an admin removed since
    stays removed, and a rule present already is not doubled). Returns what changed."""
    seeded = session.get(ChangeCounter, SHIPPED_MARK)
    if session.scalar(sa.select(PolicyRule.id).limit(1)) is None:
        add_rules(session, [Rule(*rule) for rule in SHIPPED_RULES])
        changes = [f"loaded {len(SHIPPED_RULES)} shipped policy rules"]
    else:
        # a store without the mark was seeded by the first release
        since = seeded.version if seeded is not None else 1
        present = {rule for _id, rule in list_rules(session)}
        added = [
            Rule(*rule)
            for release, rules in sorted(ADDED_RULES.items())
            if release > since
            for rule in rules
            if Rule(*rule) not in present
        ]
        if added:
            add_rules(session, added)
        changes = [f"added the shipped policy rule {effect_text(r)}" for r in added]
    if seeded is None:
        session.add(ChangeCounter(name=SHIPPED_MARK, version=SHIPPED_VERSION))
    elif seeded.version < SHIPPED_VERSION:
        seeded.version = SHIPPED_VERSION
    session.flush()
    return changes


# --- administration ---------------------------------------------------------------------------


def effect_of(rule: Rule) -> str:
    """The API's spelling of a rule's effect: allow, deny or mask:<transform>."""
    return f"mask:{rule.transform}" if rule.transform else rule.effect


def effect_text(rule: Rule) -> str:
    """A rule for people: ``(role, object, purpose, action) -> effect``."""
    return f"({rule.role}, {rule.obj}, {rule.purpose}, {rule.action}) -> {effect_of(rule)}"


def parse_effect(text: str) -> tuple[str, str]:
    """(effect, transform) of allow, deny or mask:<transform>; raises ``ValidationFailed``."""
    if text in EFFECTS:
        return text, ""
    kind, _, transform = text.partition(":")
    if kind == "mask" and transform in TRANSFORMS:
        return "allow", transform
    raise ValidationFailed(
        errors={"effect": [f"must be allow, deny or mask:<{'|'.join(TRANSFORMS)}>"]}
    )


def list_rules(session: Session) -> list[tuple[int, Rule]]:
    rows = session.scalars(
        sa.select(PolicyRule).where(PolicyRule.ptype == "p").order_by(PolicyRule.id)
    )
    return [
        (
            row.id,
            Rule(
                row.v0 or "",
                row.v1 or "",
                row.v2 or "",
                row.v3 or "",
                row.v4 or "",
                "" if row.v5 in (None, STORED_PLAIN) else row.v5,
            ),
        )
        for row in rows
    ]


def remove_rule(session: Session, rule_id: int) -> Rule:
    """Delete a ``p`` rule; raises ``NotFound`` (for an id no rule can have too: beyond what
    the id column holds, which the database would refuse with an error of its own)."""
    if not 0 < rule_id <= MAX_RULE_ID:
        raise NotFound("no such policy rule")
    row = session.get(PolicyRule, rule_id)
    if row is None or row.ptype != "p":
        raise NotFound("no such policy rule")
    (rule,) = [r for i, r in list_rules(session) if i == rule_id]
    session.delete(row)
    session.flush()
    versions.bump(session, COUNTER)
    return rule


def role_parents(session: Session) -> dict[str, list[str]]:
    parents: dict[str, list[str]] = {}
    for row in session.scalars(sa.select(PolicyRule).where(PolicyRule.ptype == "g")):
        parents.setdefault(row.v0 or "", []).append(row.v1 or "")
    return parents


def create_role(
    session: Session, *, name: str, description: str, purposes: list[str], inherits: list[str]
) -> Role:
    """A new role, the purposes its members may state and the roles it inherits rules from.
    Raises ``ValidationFailed`` (bad name, unknown purpose or role) and ``Conflict``."""
    errors: dict[str, list[str]] = {}
    if not _ROLE_NAME.match(name):
        errors["name"] = ["must be 2-64 characters: a-z, digits, underscore"]
    known_purposes = {p.code: p for p in session.scalars(sa.select(Purpose))}
    unknown = sorted(set(purposes) - set(known_purposes))
    if unknown:
        errors["purposes"] = [f"unknown purpose: {quoted_list(unknown)}"]
    known_roles = set(session.scalars(sa.select(Role.name)))
    missing = sorted(set(inherits) - known_roles)
    if missing:
        errors["inherits"] = [f"unknown role: {quoted_list(missing)}"]
    if errors:
        raise ValidationFailed("the role is invalid", errors=errors)
    if name in known_roles:
        raise Conflict(f"the role {name!r} exists", code="role_exists")
    role = Role(
        name=name,
        description=description,
        builtin=False,
        purposes=[known_purposes[p] for p in sorted(set(purposes))],
    )
    session.add(role)
    session.add_all(PolicyRule(ptype="g", v0=name, v1=parent) for parent in sorted(set(inherits)))
    session.flush()
    versions.bump(session, COUNTER)
    return role
