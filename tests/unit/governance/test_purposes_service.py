"""Purposes (vault/governance/purposes.py): deny by default. Only an admin adds a purpose; any
other principal is refused with the API's text, and nothing is written or recorded."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import assert_refused, context, principal
from vault import runtime
from vault.db import db
from vault.governance.purposes import Purposes
from vault.policies.models import Purpose


@pytest.mark.parametrize("roles", [(), ("compliance_officer",), ("sales", "support")])
def test_only_admins_add_purposes(app: Flask, roles: tuple[str, ...]) -> None:
    who = principal(*roles)

    def add() -> object:
        service = Purposes(db.session, context(who), who, now=runtime.now())
        return service.add(code="newsletters", description="", legal_basis="consent")

    assert_refused(app, add, "purposes are managed by admins")
    with app.test_request_context():
        assert db.session.get(Purpose, "newsletters") is None
        assert Purposes(db.session, context(who), who, now=runtime.now()).with_consent()
