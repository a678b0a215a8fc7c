"""One hundred random attacks on one audit log, of every kind an attacker with write access to
the database has: alter, delete, reorder or insert events, delete the newest events with their
seal, delete every seal and the head, restore an older copy of the log, delete link rows, edit
events still waiting to be sealed. Each must be detected by the verification `vault audit
verify` runs, naming the first broken position. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from tests.helpers import EDITABLE, write_events
from vault import runtime
from vault.audit.chain import head_mac
from vault.audit.integrity import AuditLog
from vault.audit.models import AuditEvent, AuditEventCustomer, AuditHead, AuditSeal
from vault.clock import FixedClock
from vault.db import db

TRIALS = 100
SEALS, PER_SEAL, PENDING = 6, 8, 4
POSITION = re.compile(r"\b(event|seal) \d+\b|^the audit head is missing$")


@pytest.fixture
def log_under_attack(app: Flask, clock: FixedClock) -> Iterator[tuple[Session, AuditLog]]:
    with app.app_context():
        session, log = db.session, runtime.audit_log()
        write_events(session, SEALS * PER_SEAL, clock.now())
        assert log.seal(session, now=clock.now(), batch_size=PER_SEAL).seals == SEALS
        write_events(session, PENDING, clock.now())
        session.commit()
        assert log.verify(session, now=clock.now()).ok
        yield session, log


class Attacks:
    """Each attack changes the database and returns the time to verify at."""

    def __init__(self, session: Session, log: AuditLog, rng: random.Random, now: dt.datetime):
        self.session, self.log, self.rng, self.now = session, log, rng, now

    def _ids(self, sealed: bool = True) -> list[int]:
        where = AuditEvent.seal_id.is_not(None) if sealed else AuditEvent.seal_id.is_(None)
        return list(
            self.session.scalars(sa.select(AuditEvent.id).where(where).order_by(AuditEvent.id))
        )

    def _update(self, event_id: int, **values: Any) -> None:
        self.session.execute(
            sa.update(AuditEvent).where(AuditEvent.id == event_id).values(**values)
        )

    def alter(self) -> dt.datetime:
        target = self.rng.choice(self._ids())
        column = self.rng.choice([*EDITABLE, "occurred_at"])
        value: Any = EDITABLE.get(column, dt.datetime(2031, 5, 5, tzinfo=dt.UTC))
        current = self.session.scalar(
            sa.select(getattr(AuditEvent, column)).where(AuditEvent.id == target)
        )
        if current == value:
            value = "error" if column == "outcome" else value + "x"
        self._update(target, **{column: value})
        return self.now

    def delete(self) -> dt.datetime:
        target = self.rng.choice(self._ids())
        self.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == target))
        return self.now

    def reorder(self) -> dt.datetime:
        first, second = sorted(self.rng.sample(self._ids(), 2))
        table = AuditEvent.__table__
        rows = {r.id: dict(r._mapping) for r in self.session.execute(
            sa.select(table).where(table.c.id.in_([first, second])))}  # fmt: skip
        for here, there in ((first, second), (second, first)):
            values = {k: v for k, v in rows[there].items() if k != "id"}
            self._update(here, **values)
        return self.now

    def insert(self) -> dt.datetime:
        new_id = (self.session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0) + 1000
        into = self.rng.choice([None, *range(1, SEALS + 1)])
        self.session.execute(sa.insert(AuditEvent).values(
            id=new_id, occurred_at=self.now, actor_kind="user", actor_id="usr_forger",
            action="customer.read", customer_ids="cus_victim", outcome="allowed",
            seal_id=into, mac=self.rng.randbytes(48),
        ))  # fmt: skip
        return self.now

    def truncate(self) -> dt.datetime:
        keep = self.rng.randrange(0, SEALS)  # keep seals 1..keep, delete the newer ones
        self.session.execute(sa.delete(AuditEvent).where(AuditEvent.seal_id > keep))
        self.session.execute(sa.delete(AuditSeal).where(AuditSeal.id > keep))
        return self.now

    def wipe(self) -> dt.datetime:
        self.session.execute(sa.update(AuditEvent).values(seal_id=None))
        self.session.execute(sa.delete(AuditEventCustomer))
        self.session.execute(sa.delete(AuditSeal))
        self.session.execute(sa.delete(AuditHead))
        return self.now

    def restore_older(self) -> dt.datetime:
        """The log as it was after seal ``keep``: its events, seals and a genuine head."""
        keep = self.rng.randrange(0, SEALS)
        self.truncate_to(keep)
        return self.now

    def truncate_to(self, keep: int) -> None:
        old = self.session.get(AuditSeal, keep)
        old_hash = old.seal_hash if old is not None else b"\x00" * 32
        self.session.execute(sa.delete(AuditEvent).where(AuditEvent.seal_id > keep))
        self.session.execute(sa.delete(AuditSeal).where(AuditSeal.id > keep))
        genuine = head_mac(self.log.key, keep, old_hash)
        self.session.execute(
            sa.update(AuditHead).values(seal_id=keep, seal_hash=old_hash, mac=genuine)
        )

    def unlink(self) -> dt.datetime:
        links = self.session.execute(sa.select(AuditEventCustomer.event_id)).scalars().all()
        target = self.rng.choice(links)
        self.session.execute(
            sa.delete(AuditEventCustomer).where(AuditEventCustomer.event_id == target)
        )
        return self.now

    def edit_pending(self) -> dt.datetime:
        target = self.rng.choice(self._ids(sealed=False))
        column = self.rng.choice(list(EDITABLE))
        current = self.session.scalar(
            sa.select(getattr(AuditEvent, column)).where(AuditEvent.id == target)
        )
        value = EDITABLE[column] if current != EDITABLE[column] else current + "x"
        if column == "outcome":
            value = "error" if current != "error" else "denied"
        self._update(target, **{column: value})
        return (
            self.now + self.log.unsealed_limit + dt.timedelta(seconds=self.rng.randrange(1, 9999))
        )


KINDS: list[str] = [
    "alter", "delete", "reorder", "insert", "truncate", "wipe", "restore_older", "unlink",
    "edit_pending",
]  # fmt: skip


def test_one_hundred_random_attacks_are_all_detected(
    log_under_attack: tuple[Session, AuditLog], clock: FixedClock
) -> None:
    session, log = log_under_attack
    rng = random.Random(20261202)  # noqa: S311  (repeatable trials, not a secret)
    attacks = Attacks(session, log, rng, clock.now())
    tried: Counter[str] = Counter()
    missed: list[str] = []
    for trial in range(TRIALS):
        kind = KINDS[trial % len(KINDS)] if trial < len(KINDS) else rng.choice(KINDS)
        nested = session.begin_nested()
        verify_at: Callable[[], dt.datetime] = getattr(attacks, kind)
        now = verify_at()
        session.flush()
        report = log.verify(session, now=now)
        nested.rollback()
        tried[kind] += 1
        if report.ok or not report.problem or not POSITION.search(report.problem):
            missed.append(f"trial {trial} ({kind}): {report.problem!r}")
    assert missed == []
    assert sum(tried.values()) == TRIALS
    assert set(tried) == set(KINDS)
    assert log.verify(session, now=clock.now()).ok  # every attack was undone
