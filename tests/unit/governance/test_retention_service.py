"""RetentionRules (vault/governance/retention_desk.py): deny by default. A principal without
the role a call needs is refused with the API's text, before anything is read or recorded."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import Case, cases, context, never, refuses
from vault import runtime
from vault.auth.principal import Principal
from vault.db import db
from vault.governance.retention_desk import RetentionRules


def rules_for(who: Principal) -> RetentionRules:
    return RetentionRules(db.session, context(who), who, now=runtime.now(), store=never,
                          sweep_lock=never, commit=never, forget_mail=never,
                          purge_wal=never)  # fmt: skip


CALLS: list[Case] = [
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


@pytest.mark.parametrize("case", cases(CALLS))
def test_each_call_refuses_a_principal_without_its_role(app: Flask, case: Case) -> None:
    refuses(app, rules_for, case)
