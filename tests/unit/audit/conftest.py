"""Fixtures of the audit log's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.helpers import write_events
from vault import runtime
from vault.audit.integrity import AuditLog
from vault.clock import FixedClock
from vault.db import db


@pytest.fixture
def vault(app: Flask, clock: FixedClock) -> Iterator[tuple[Session, AuditLog]]:
    """A log of 30 events in 3 sealed seals and 2 pending ones."""
    with app.app_context():
        session, log = db.session, runtime.audit_log()
        write_events(session, 30, clock.now())
        assert log.seal(session, now=clock.now(), batch_size=10).seals == 3
        write_events(session, 2, clock.now())
        session.commit()
        yield session, log
