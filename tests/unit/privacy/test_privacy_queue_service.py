"""PrivacyQueue (vault/privacy/queue.py): deny by default. Only compliance officers use the
queue; anyone else (admins too) is refused with the API's text before anything is read,
filed, extended or recorded."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import Case, cases, context, never, refuses
from vault import runtime
from vault.auth.principal import Principal
from vault.db import db
from vault.privacy.queue import PrivacyQueue

TEXT = "the privacy-request queue is for compliance officers"
CALLS: list[Case] = [
    ("page", lambda q: q.page(), ("admin",), TEXT),
    ("get", lambda q: q.get("prq_x"), ("sales", "support"), TEXT),
    ("file", lambda q: q.file("erasure", "cus_x", channel="phone", identity_check="id_document"),
     ("admin",), TEXT),
    ("extend", lambda q: q.extend("prq_x", reason="more time needed"), ("admin",), TEXT),
]  # fmt: skip


def queue_for(who: Principal) -> PrivacyQueue:
    return PrivacyQueue(db.session, context(who), who, now=runtime.now(), cursors=never,
                        desk=never, follow_up=never)  # fmt: skip


@pytest.mark.parametrize("case", cases(CALLS))
def test_only_officers_use_the_queue(app: Flask, case: Case) -> None:
    refuses(app, queue_for, case)
