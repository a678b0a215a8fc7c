"""RetentionRules (vault/governance/retention_desk.py): deny by default. A principal without
the role a call needs is refused with the API's text, before anything is read or recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from vault import runtime
from vault.audit.models import AuditEvent
from vault.audit.service import AuditContext
from vault.auth.principal import Principal
from vault.db import db
from vault.errors import Forbidden
from vault.governance.retention_desk import RetentionRules


def principal(*roles: str) -> Principal:
    return Principal(kind="user", id="usr_1", name="someone", roles=frozenset(roles),
                     purposes=frozenset())  # fmt: skip


def never(*_args: Any) -> Any:
    raise AssertionError("a refused call went on")


def rules_for(who: Principal) -> RetentionRules:
    return RetentionRules(db.session, AuditContext("user", who.id), who, now=runtime.now(),
                          store=never, sweep_lock=never, commit=never, forget_mail=never,
                          purge_wal=never)  # fmt: skip


CALLS: list[tuple[str, Callable[[RetentionRules], object], tuple[str, ...], str]] = [
    ("all", lambda r: r.all(), ("sales", "support"), RetentionRules.READ),
    ("rule", lambda r: r.rule("ret_x"), ("sales",), RetentionRules.READ),
    ("overview", lambda r: r.overview(), ("data_owner",), RetentionRules.READ),
    ("add", lambda r: r.add(trigger="created", period_days=1, action="anonymise"),
     ("compliance_officer",), RetentionRules.CHANGE),
    ("change", lambda r: r.change("ret_x", period_days=1), ("compliance_officer",),
     RetentionRules.CHANGE),
    ("remove", lambda r: r.remove("ret_x"), ("compliance_officer",), RetentionRules.CHANGE),
    ("dry run", lambda r: r.sweep(dry_run=True, batch_size=10), ("sales",),
     "dry runs are for admins and officers"),
    ("sweep", lambda r: r.sweep(dry_run=False, batch_size=10), ("compliance_officer",),
     "the retention sweep is run by admins"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "roles", "because"), CALLS, ids=[c[0] for c in CALLS])
def test_each_call_refuses_a_principal_without_its_role(
    app: Flask, name: str, call: Callable[[RetentionRules], object], roles: tuple[str, ...],
    because: str,
) -> None:  # fmt: skip
    with app.test_request_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        for who in (principal(), principal(*roles)):
            with pytest.raises(Forbidden) as refused:
                call(rules_for(who))
            assert refused.value.detail == because
        after = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        assert after == before
