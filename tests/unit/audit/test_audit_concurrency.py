"""Parallel writers and a sealer at the same time: the log verifies and holds exactly one
event per operation (on PostgreSQL in CI's second run; SQLite serialises the writers)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.anchor import FileAnchor
from vault.audit.integrity import seal_pending_events, verify_audit_log
from vault.audit.models import AuditEvent
from vault.audit.sealing import initialise_log
from vault.audit.service import AuditContext, bind_audit_key, record_event
from vault.bootstrap import prepare_database
from vault.db import create_db_engine

WRITERS = 8
OPERATIONS = 40
KEY = b"k" * 32


def test_parallel_writers_and_a_sealer_leave_a_log_that_verifies(
    fresh_database_url: str, tmp_path: Path
) -> None:
    prepare_database(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    anchor = FileAnchor(tmp_path / "audit-anchor.log", KEY)
    with Session(engine) as session:
        initialise_log(session, KEY, anchor, now=dt.datetime.now(dt.UTC))
    errors: list[BaseException] = []
    done = threading.Event()
    start = threading.Barrier(WRITERS + 1)

    def writer(number: int) -> None:
        try:
            start.wait()
            for i in range(OPERATIONS):
                with Session(engine) as session:
                    bind_audit_key(session, KEY)
                    record_event(
                        session,
                        AuditContext(
                            "client", f"cli_{number}", "sales", f"w{number}-op{i}", "127.0.0.1"
                        ),
                        action="customer.read",
                        outcome="allowed",
                        now=dt.datetime.now(dt.UTC),
                        customer_ids=[f"cus_{number:032x}"],
                        field_names=["email"],
                    )
                    session.commit()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    def sealer() -> None:
        try:
            start.wait()
            while not done.is_set():
                with Session(engine) as session:
                    seal_pending_events(
                        session, KEY, anchor=anchor, now=dt.datetime.now(dt.UTC), batch_size=25
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    sealing = threading.Thread(target=sealer)
    for thread in [*threads, sealing]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    sealing.join(timeout=120)
    try:
        assert not errors, errors
        with Session(engine) as session:
            now = dt.datetime.now(dt.UTC)
            seal_pending_events(session, KEY, anchor=anchor, now=now)
            report = verify_audit_log(
                session, KEY, anchor=anchor, now=now, unsealed_limit=dt.timedelta(minutes=5)
            )
            assert report.ok, report.problem
            assert report.events == WRITERS * OPERATIONS
            assert report.unsealed == 0
            per_operation = Counter(session.scalars(sa.select(AuditEvent.request_id)))
        assert len(per_operation) == WRITERS * OPERATIONS
        assert set(per_operation.values()) == {1}
        assert report.seals > 1  # the sealer really ran while the writers wrote
    finally:
        engine.dispose()
