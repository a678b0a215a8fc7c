"""Compiled access plans: the shipped matrix, deny wins, inheritance, cache invalidation, and
agreement with pycasbin's own enforce()."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.customers.catalogue import load_catalogue
from vault.customers.service import CustomerStore
from vault.defaults import PURPOSES, ROLES
from vault.errors import ValidationFailed
from vault.policies.models import PolicyRule
from vault.policies.plan import Rule
from vault.policies.service import add_rules, load_enforcer, plans, validate_rule
from vault.policies.versions import database_of

IDENTITY = {"given_name", "family_name"}
CONTACT = {"email", "phone", "postal_address"}
PROFILE = {"job_title", "company", "interests"}
# (role, purpose) -> (plain fields, {masked field: transform}); every other field is withheld
SHIPPED = {
    ("sales", "sales"): (
        IDENTITY | CONTACT | PROFILE,
        {"birth_date": "year", "national_id": "last4"},
    ),
    ("support", "support"): (IDENTITY | CONTACT, {}),
    ("marketing", "marketing"): (IDENTITY | {"email", "interests"}, {}),
}


@pytest.fixture
def session(store: CustomerStore) -> Session:
    return store.session


@pytest.mark.parametrize(("role", "purpose"), list(itertools.product(ROLES, PURPOSES)))
def test_the_shipped_matrix(session: Session, role: str, purpose: str) -> None:
    catalogue = load_catalogue(session)
    plan = plans.plan(session, catalogue, frozenset({role}), purpose)
    plain, masked = SHIPPED.get((role, purpose), (set(), {}))
    assert {f for f, t in plan.readable.items() if t == ""} == plain
    assert {f: t for f, t in plan.readable.items() if t} == masked
    assert set(plan.withheld) == set(catalogue.fields) - plain - set(masked)
    assert plan.readable.get("national_id", "never plain") != ""
    assert plan.consent_required is (purpose == "marketing")


def test_admins_and_compliance_officers_see_no_values_for_any_purpose(session: Session) -> None:
    catalogue = load_catalogue(session)
    for role, purpose in itertools.product(
        ("admin", "compliance_officer", "data_owner", "staff"), PURPOSES
    ):
        plan = plans.plan(session, catalogue, frozenset({role}), purpose)
        assert not plan.sees_customers
        assert not plan.writable
        assert not plan.creatable


def test_deny_wins_over_allow(session: Session) -> None:
    add_rules(session, [Rule("sales", "email", "sales", "read", "deny")])
    plan = plans.plan(session, load_catalogue(session), frozenset({"sales"}), "sales")
    assert "email" not in plan.readable
    assert "email" in plan.withheld
    assert plan.readable["phone"] == ""


def test_roles_inherit_their_parents_rules(session: Session) -> None:
    session.add(PolicyRule(ptype="g", v0="support", v1="marketing"))
    add_rules(session, [])
    plan = plans.plan(session, load_catalogue(session), frozenset({"support"}), "marketing")
    assert set(plan.readable) == IDENTITY | {"email", "interests"}


def test_a_rule_change_applies_to_the_next_plan(session: Session) -> None:
    catalogue = load_catalogue(session)
    before = plans.plan(session, catalogue, frozenset({"support"}), "support")
    assert "company" not in before.readable
    add_rules(session, [Rule("support", "company", "support", "read", "allow", "mask")])
    after = plans.plan(session, catalogue, frozenset({"support"}), "support")
    assert after.readable["company"] == "mask"
    assert plans.plan(session, catalogue, frozenset({"support"}), "support") is after  # cached


def test_compiled_plans_agree_with_pycasbin_enforce(session: Session) -> None:
    catalogue = load_catalogue(session)
    enforcer = load_enforcer(session)
    for role, purpose, action in itertools.product(ROLES, PURPOSES, ("read", "write", "create")):
        plan = plans.plan(session, catalogue, frozenset({role}), purpose)
        granted = {"read": set(plan.readable), "write": plan.writable, "create": plan.creatable}[
            action
        ]
        for name, spec in catalogue.fields.items():
            allowed = enforcer.enforce(role, name, f"category:{spec.category}", purpose, action)
            assert allowed == (name in granted), (role, purpose, action, name)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (Rule("overlord", "email", "sales", "read", "allow"), "role"),
        (Rule("sales", "email", "gossip", "read", "allow"), "purpose"),
        (Rule("sales", "shoe_size", "sales", "read", "allow"), "object"),
        (Rule("sales", "category:secrets", "sales", "read", "allow"), "object"),
        (Rule("sales", "interactions:fax", "sales", "read", "allow"), "object"),
        (Rule("sales", "email", "sales", "delete", "allow"), "action"),
        (Rule("sales", "email", "sales", "read", "maybe"), "effect"),
        (Rule("sales", "email", "sales", "read", "allow", "blur"), "effect"),
    ],
)
def test_malformed_rules_are_refused(session: Session, rule: Rule, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_rule(session, rule, load_catalogue(session))
    assert field in (refused.value.errors or {})


def test_caches_are_kept_per_database(tmp_path: Path) -> None:
    """Plans and catalogues are cached under the stamps of one database: two databases are two
    keys, and an engine's key is the same text each time (rendered once)."""
    first = sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    second = sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with Session(first) as one, Session(second) as other, Session(first) as again:
        assert database_of(one) != database_of(other)
        assert database_of(one) == str(first.url)
        assert database_of(again) is database_of(one)
