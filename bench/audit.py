"""The audit trail: how fast it seals and verifies, and whether concurrent writers on
PostgreSQL keep their throughput (no single row serialises them). What an audit event adds to
a governed read is measured with the customers route's own steps in bench/policies.py
(``audit.governed_read``)."""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.harness import Context, Result, benchmark, postgres_database
from vault.audit.anchor import FileAnchor
from vault.audit.canonical import content_text, event_mac
from vault.audit.integrity import seal_pending_events, verify_audit_log
from vault.audit.models import AuditEvent
from vault.audit.sealing import initialise_log
from vault.audit.service import AuditContext, bind_audit_key, record_event
from vault.bootstrap import prepare_database
from vault.db import create_db_engine

EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "200000"))
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
KEY = b"b" * 32
JOBS = os.cpu_count() or 1  # what `vault audit verify` uses by default
CONTEXT = AuditContext("client", "cli_bench", "sales", "req", "127.0.0.1")


def _event_rows(count: int) -> list[dict[str, Any]]:
    """Events as writers make them, with their MACs."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "occurred_at": now,
            "actor_kind": "client",
            "actor_id": "cli_bench",
            "purpose": "sales",
            "action": "customer.read",
            "customer_ids": f"cus_{i:032x}",
            "field_names": "email given_name",
            "outcome": "allowed",
            "reason": "",
            "request_id": f"req-{i}",
            "client_address": "127.0.0.1",
        }
        for i in range(count)
    ]
    for row in rows:
        row["mac"] = event_mac(KEY, content_text(row))
    return rows


@benchmark("audit.integrity")
def integrity(context: Context) -> list[Result]:
    with context.sqlite_vault("audit-integrity") as url:
        engine = create_db_engine(url)
        anchor = FileAnchor(context.workdir / "audit-integrity-anchor.log", KEY)
        with Session(engine) as session:
            initialise_log(session, KEY, anchor, now=dt.datetime.now(dt.UTC))
            for start in range(0, EVENTS, 50_000):
                session.execute(sa.insert(AuditEvent), _event_rows(min(50_000, EVENTS - start)))
            session.commit()
            began = time.perf_counter()
            sealed = seal_pending_events(session, KEY, anchor=anchor, now=dt.datetime.now(dt.UTC))
            seal_seconds = time.perf_counter() - began
            session.commit()
            began = time.perf_counter()
            now, limit = dt.datetime.now(dt.UTC), dt.timedelta(minutes=5)
            single = verify_audit_log(session, KEY, anchor=anchor, now=now, unsealed_limit=limit)
            single_seconds = time.perf_counter() - began
            began = time.perf_counter()
            report = verify_audit_log(session, KEY, anchor=anchor, now=now, unsealed_limit=limit,
                                      jobs=JOBS, database_url=url)  # fmt: skip
            verify_seconds = time.perf_counter() - began
        engine.dispose()
    if not (report.ok and single.ok) or sealed.events != EVENTS:
        raise SystemExit(f"audit.integrity: the log did not verify ({report.problem})")
    seal_rate, verify_rate = EVENTS / seal_seconds, EVENTS / verify_seconds
    result = functools.partial(Result, "audit.integrity")
    return [
        result(f"sealing {EVENTS:,} events", seal_rate, "events/s", "≥ 5,000/s", seal_rate >= 5e3),
        result(f"verifying {EVENTS:,} events, one process", EVENTS / single_seconds, "events/s"),
        result(
            f"verifying {EVENTS:,} events, `vault audit verify --jobs {JOBS}`",
            verify_rate,
            "events/s",
            "≥ 300,000/s",
            verify_rate >= 3e5,
        ),
    ]


def _writes_per_second(url: str, writers: int, per_writer: int) -> float:
    engine = create_db_engine(url)
    barrier = threading.Barrier(writers + 1)

    def write() -> None:
        barrier.wait()
        for _ in range(per_writer):
            with Session(engine) as session:
                bind_audit_key(session, KEY)
                now = dt.datetime.now(dt.UTC)
                record_event(session, CONTEXT, action="customer.read", outcome="allowed", now=now,
                             customer_ids=["cus_1"], field_names=["email"])  # fmt: skip
                session.commit()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    engine.dispose()
    return writers * per_writer / elapsed


@benchmark("audit.concurrency")
def concurrency(_context: Context) -> list[Result]:
    with postgres_database(POSTGRES_URL, "audit.concurrency") as url:
        prepare_database(url)
        one = _writes_per_second(url, 1, 800)
        eight = _writes_per_second(url, 8, 200)
    ratio = eight / one
    result = functools.partial(Result, "audit.concurrency")
    return [
        result("PostgreSQL, 1 writer", one, "events/s"),
        result("PostgreSQL, 8 concurrent writers", eight, "events/s"),
        result("8 writers / 1 writer", ratio, "x", "≥ 1.0x (no collapse)", ratio >= 1.0),
    ]
