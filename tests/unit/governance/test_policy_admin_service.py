"""PolicyAdmin and CatalogueAdmin (vault/governance/): deny by default. A principal without the
role a call needs is refused with the API's text, before anything is read or recorded; an
allowed change that fails leaves nothing behind (its savepoint) and records no event."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.helpers import Case, cases, context, never, principal, refuses
from vault import runtime
from vault.audit.models import AuditEvent
from vault.auth.principal import Principal
from vault.customers.catalogue import FieldSpec
from vault.db import db
from vault.errors import NotFound, ValidationFailed
from vault.governance.catalogue_admin import CatalogueAdmin
from vault.governance.policy_admin import PolicyAdmin
from vault.policies.models import PolicyRule

ADMINS = PolicyAdmin.ADMINS_ONLY
POLICY_CALLS: list[Case] = [
    ("roles", lambda p: p.roles(), ("sales", "compliance_officer"), ADMINS),
    ("rules", lambda p: p.rules(), ("compliance_officer",), ADMINS),
    ("overview", lambda p: p.overview(), ("data_owner",), ADMINS),
    ("create_role", lambda p: p.create_role(name="x1", description="", purposes=[], inherits=[]),
     ("compliance_officer",), ADMINS),
    ("add_rule", lambda p: p.add_rule("sales", "email", "sales", "read", "allow"), ("sales",),
     ADMINS),
    ("remove_rule", lambda p: p.remove_rule(1), ("support",), ADMINS),
    ("explain", lambda p: p.explain("sales", "sales"), ("compliance_officer",), ADMINS),
]  # fmt: skip
CATALOGUE_CALLS: list[Case] = [
    ("add_field", lambda c: c.add_field(FieldSpec("loyalty", "string", "profile", "low")),
     ("compliance_officer",), "only admins change the field catalogue"),
    ("owners", lambda c: c.owners(), ("sales", "support"),
     "ownership is for admins, compliance officers and data owners"),
    ("set_owner", lambda c: c.set_owner("identity", "usr_x"), ("data_owner",),
     "admins assign data owners"),
    ("set_owner_by_email", lambda c: c.set_owner_by_email("identity", "a@example.org"),
     ("compliance_officer",), "admins assign data owners"),
]  # fmt: skip


def policies_for(who: Principal) -> PolicyAdmin:
    return PolicyAdmin(db.session, context(who), who, now=runtime.now(), catalogue=never)


def catalogue_for(who: Principal) -> CatalogueAdmin:
    return CatalogueAdmin(db.session, context(who), who, now=runtime.now(), catalogue=never)


@pytest.mark.parametrize("case", cases(POLICY_CALLS))
def test_each_policy_call_refuses_a_non_admin(app: Flask, case: Case) -> None:
    refuses(app, policies_for, case)


@pytest.mark.parametrize("case", cases(CATALOGUE_CALLS))
def test_each_catalogue_call_refuses_a_principal_without_its_role(app: Flask, case: Case) -> None:
    refuses(app, catalogue_for, case)


def test_a_failed_change_leaves_nothing_and_records_nothing(app: Flask) -> None:
    admin = principal("admin")
    with app.test_request_context():
        count = sa.select(sa.func.count()).select_from(AuditEvent)
        events = db.session.scalar(count) or 0
        rules = db.session.scalar(sa.select(sa.func.count()).select_from(PolicyRule))
        with pytest.raises(NotFound):
            policies_for(admin).remove_rule(987_654)
        store = runtime.customer_store()
        catalogue = CatalogueAdmin(db.session, context(admin), admin, now=runtime.now(),
                                   catalogue=lambda: store.catalogue)  # fmt: skip
        with pytest.raises(ValidationFailed):
            catalogue.set_owner("no_such_category", "usr_nobody")
        assert db.session.scalar(count) == events
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PolicyRule)) == rules
        # what an allowed call records, it records once, in the caller's transaction
        policies_for(admin).rules()
        assert db.session.scalar(count) == events + 1
