"""LegalHolds (vault/governance/legal_holds.py): deny by default. A principal without the role
a call needs is refused with the API's text, before anything is read or recorded."""

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
from vault.governance.legal_holds import LegalHolds


def principal(*roles: str) -> Principal:
    return Principal(kind="user", id="usr_1", name="someone", roles=frozenset(roles),
                     purposes=frozenset())  # fmt: skip


def never(*_args: Any) -> Any:
    raise AssertionError("a refused call went on")


CALLS: list[tuple[str, Callable[[LegalHolds], object], tuple[str, ...], str]] = [
    ("all", lambda h: h.all(active_only=True), ("sales", "data_owner"), LegalHolds.READ),
    ("place", lambda h: h.place("cus_x", reason="litigation"), ("admin",), LegalHolds.CHANGE),
    ("lift", lambda h: h.lift("hold_x", reason="settled now"), ("admin",), LegalHolds.CHANGE),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "roles", "because"), CALLS, ids=[c[0] for c in CALLS])
def test_each_call_refuses_a_principal_without_its_role(
    app: Flask, name: str, call: Callable[[LegalHolds], object], roles: tuple[str, ...],
    because: str,
) -> None:  # fmt: skip
    with app.test_request_context():
        count = sa.select(sa.func.count()).select_from(AuditEvent)
        before = db.session.scalar(count)
        for who in (principal(), principal(*roles)):
            desk = LegalHolds(db.session, AuditContext("user", who.id), who, now=runtime.now(),
                              notes=never)  # fmt: skip
            with pytest.raises(Forbidden) as refused:
                call(desk)
            assert refused.value.detail == because
        assert db.session.scalar(count) == before
