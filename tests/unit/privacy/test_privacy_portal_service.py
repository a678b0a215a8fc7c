"""PrivacyPortal (vault/privacy/portal.py): every step commits before its answer leaves, what
follows it is handed on, and nothing is committed or followed up for a step that fails; the
data subject has no role, so an unknown request or link is the refusal."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from vault.db import db
from vault.errors import NotFound
from vault.privacy.desk import PrivacyDesk
from vault.privacy.outcomes import LinkGone
from vault.privacy.portal import PrivacyPortal


class FakeDesk:
    def __init__(self, download: Any = None) -> None:
        self.download = download

    def open_download(self, token: str) -> Any:
        if token == "unknown":
            raise NotFound("no such download")
        return self.download


def portal_over(app: Flask, desk: Any, steps: list[str]) -> PrivacyPortal:
    def never() -> Any:
        raise AssertionError("no export may be opened")

    def follow_up(_desk: PrivacyDesk, _outgoing: object, request_id: str) -> None:
        steps.append(f"follow_up {request_id}")

    return PrivacyPortal(db.session, open_desk=lambda: desk,
                         commit=lambda: steps.append("commit"), follow_up=follow_up,
                         export_store=never)  # fmt: skip


def test_an_unknown_request_is_not_found_and_nothing_is_committed(app: Flask) -> None:
    steps: list[str] = []
    with app.test_request_context():
        portal = portal_over(app, FakeDesk(), steps)
        with pytest.raises(NotFound, match="no such privacy request"):
            portal.request("prq_nobody")
    assert steps == []


def test_a_spent_link_is_committed_then_refused_and_an_unknown_one_is_not(app: Flask) -> None:
    steps: list[str] = []
    with app.test_request_context():
        portal = portal_over(app, FakeDesk(download=None), steps)
        with pytest.raises(NotFound):
            portal.download("unknown")
        assert steps == []
        with pytest.raises(LinkGone):
            portal.download("spent")
    assert steps == ["commit"]  # the refusal's event counts
