"""AuditReview (vault/audit/review.py): deny by default. Only compliance officers and admins
review the audit trail; anyone else is refused with the API's text before anything is read,
recorded or committed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from vault import runtime
from vault.audit.models import AuditEvent
from vault.audit.query import AuditFilter
from vault.audit.review import AuditReview
from vault.audit.service import AuditContext
from vault.auth.principal import Principal
from vault.db import db
from vault.errors import Forbidden


def never(*_args: Any) -> Any:
    raise AssertionError("a refused call went on")


CALLS: dict[str, Callable[[AuditReview], object]] = {
    "page": lambda r: r.page(AuditFilter(), limit=10, before_id=None),
    "verify": lambda r: r.verify(),
    "log_page": lambda r: r.log_page(AuditFilter(), limit=10, verify=True),
    "export": lambda r: r.export(AuditFilter(), format="csv"),
}


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("roles", [(), ("sales",), ("support", "data_owner")])
def test_only_auditors_review_the_trail(app: Flask, name: str, roles: tuple[str, ...]) -> None:
    who = Principal(kind="user", id="usr_1", name="someone", roles=frozenset(roles),
                    purposes=frozenset())  # fmt: skip
    with app.test_request_context():
        count = sa.select(sa.func.count()).select_from(AuditEvent)
        before = db.session.scalar(count)
        review = AuditReview(db.session, AuditContext("user", who.id), who, now=runtime.now(),
                             log=never, commit=never)  # fmt: skip
        with pytest.raises(Forbidden) as refused:
            CALLS[name](review)
        assert refused.value.detail == "the audit trail is for compliance officers and admins"
        assert db.session.scalar(count) == before
