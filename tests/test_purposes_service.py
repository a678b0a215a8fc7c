"""Purposes (vault/governance/purposes.py): deny by default. Only an admin adds a purpose; any
other principal is refused with the API's text, and nothing is written or recorded."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from vault import runtime
from vault.audit.models import AuditEvent
from vault.audit.service import AuditContext
from vault.auth.principal import Principal
from vault.db import db
from vault.errors import Forbidden
from vault.governance.purposes import Purposes
from vault.policies.models import Purpose


@pytest.mark.parametrize("roles", [(), ("compliance_officer",), ("sales", "support")])
def test_only_admins_add_purposes(app: Flask, roles: tuple[str, ...]) -> None:
    who = Principal(kind="user", id="usr_1", name="someone", roles=frozenset(roles),
                    purposes=frozenset())  # fmt: skip
    with app.test_request_context():
        count = sa.select(sa.func.count()).select_from(AuditEvent)
        before = db.session.scalar(count)
        service = Purposes(db.session, AuditContext("user", who.id), who, now=runtime.now())
        with pytest.raises(Forbidden) as refused:
            service.add(code="newsletters", description="", legal_basis="consent")
        assert refused.value.detail == Purposes.CHANGE == "purposes are managed by admins"
        assert db.session.get(Purpose, "newsletters") is None
        assert db.session.scalar(count) == before
        assert service.with_consent()  # reading is for every principal
