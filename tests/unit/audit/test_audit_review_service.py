"""AuditReview (vault/audit/review.py): deny by default. Only compliance officers and admins
review the audit trail; anyone else is refused with the API's text before anything is read,
recorded or committed."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import Case, cases, context, never, refuses
from vault import runtime
from vault.audit.query import AuditFilter
from vault.audit.review import AuditReview
from vault.auth.principal import Principal
from vault.db import db

TEXT = "the audit trail is for compliance officers and admins"
CALLS: list[Case] = [
    ("page", lambda r: r.page(AuditFilter(), limit=10, before_id=None), ("sales",), TEXT),
    ("verify", lambda r: r.verify(), ("support", "data_owner"), TEXT),
    ("log_page", lambda r: r.log_page(AuditFilter(), limit=10, verify=True), ("sales",), TEXT),
    ("export", lambda r: r.export(AuditFilter(), format="csv"), ("support",), TEXT),
]


def review_for(who: Principal) -> AuditReview:
    return AuditReview(db.session, context(who), who, now=runtime.now(), log=never, commit=never)


@pytest.mark.parametrize("case", cases(CALLS))
def test_only_auditors_review_the_trail(app: Flask, case: Case) -> None:
    refuses(app, review_for, case)
