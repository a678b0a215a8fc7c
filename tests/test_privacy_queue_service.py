"""PrivacyQueue (vault/privacy/queue.py): deny by default. Only compliance officers use the
queue; anyone else is refused with the API's text before anything is read, filed, extended
or recorded."""

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
from vault.privacy.queue import PrivacyQueue


def never(*_args: Any) -> Any:
    raise AssertionError("a refused call went on")


CALLS: dict[str, Callable[[PrivacyQueue], object]] = {
    "page": lambda q: q.page(),
    "get": lambda q: q.get("prq_x"),
    "file": lambda q: q.file("erasure", "cus_x", channel="phone", identity_check="id_document"),
    "extend": lambda q: q.extend("prq_x", reason="more time needed"),
}


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("roles", [(), ("admin",), ("sales", "support")])
def test_only_officers_use_the_queue(app: Flask, name: str, roles: tuple[str, ...]) -> None:
    who = Principal(kind="user", id="usr_1", name="someone", roles=frozenset(roles),
                    purposes=frozenset())  # fmt: skip
    with app.test_request_context():
        count = sa.select(sa.func.count()).select_from(AuditEvent)
        before = db.session.scalar(count)
        queue = PrivacyQueue(db.session, AuditContext("user", who.id), who, now=runtime.now(),
                             cursors=never, desk=never, follow_up=never)  # fmt: skip
        with pytest.raises(Forbidden) as refused:
            CALLS[name](queue)
        assert refused.value.detail == "the privacy-request queue is for compliance officers"
        assert db.session.scalar(count) == before
