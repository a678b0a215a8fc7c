"""What the services' refusal tests share: a principal with some roles (or none), a stand-in
for what a refused call must never reach, and the check that a call is refused with its
text before anything is recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from vault.audit.models import AuditEvent
from vault.audit.service import AuditContext
from vault.auth.principal import Principal
from vault.db import db
from vault.errors import Forbidden


def principal(*roles: str) -> Principal:
    return Principal(kind="user", id="usr_1", name="someone", roles=frozenset(roles),
                     purposes=frozenset())  # fmt: skip


def context(who: Principal) -> AuditContext:
    return AuditContext("user", who.id)


def never(*_args: Any) -> Any:
    raise AssertionError("a refused call went on")


def assert_refused(app: Flask, call: Callable[[], object], because: str) -> None:
    """``call`` (made in a request context) raises ``Forbidden`` saying ``because``, and no
    audit event is written."""
    with app.test_request_context():
        count = sa.select(sa.func.count()).select_from(AuditEvent)
        before = db.session.scalar(count)
        with pytest.raises(Forbidden) as refused:
            call()
        assert refused.value.detail == because
        assert db.session.scalar(count) == before


# One refusal case: a name, the call on the service, roles that do not suffice, the text.
Case = tuple[str, Callable[[Any], object], tuple[str, ...], str]


def cases(table: list[Case]) -> list[Any]:
    """``table`` as pytest parameters named by each case's name."""
    return [pytest.param(case, id=case[0]) for case in table]


def refuses(app: Flask, make: Callable[[Principal], Any], case: Case) -> None:
    """The call of ``case`` on the service ``make`` builds for a principal is refused, with
    the case's text, for a principal without roles and for one with the case's roles."""
    _name, call, roles, because = case
    for who in (principal(), principal(*roles)):
        assert_refused(app, lambda: call(make(who)), because)  # noqa: B023
