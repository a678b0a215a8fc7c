"""LegalHolds (vault/governance/legal_holds.py): deny by default. A principal without the role
a call needs is refused with the API's text, before anything is read or recorded."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import Case, cases, context, never, refuses
from vault import runtime
from vault.auth.principal import Principal
from vault.db import db
from vault.governance.legal_holds import LegalHolds

CALLS: list[Case] = [
    ("all", lambda h: h.all(active_only=True), ("sales", "data_owner"), LegalHolds.READ),
    ("place", lambda h: h.place("cus_x", reason="litigation"), ("admin",), LegalHolds.CHANGE),
    ("lift", lambda h: h.lift("hold_x", reason="settled now"), ("admin",), LegalHolds.CHANGE),
]  # fmt: skip


def holds_for(who: Principal) -> LegalHolds:
    return LegalHolds(db.session, context(who), who, now=runtime.now(), notes=never)


@pytest.mark.parametrize("case", cases(CALLS))
def test_each_call_refuses_a_principal_without_its_role(app: Flask, case: Case) -> None:
    refuses(app, holds_for, case)
