"""The audit trail: how fast it seals and verifies, whether concurrent writers on PostgreSQL
keep their throughput (no single row serialises them), and what recording an event adds to a
single-customer read.

Until the governed customers route exists, the read overhead is measured at the store level:
one customer read in its own transaction, with and without its audit event. That is the
pessimistic ratio (no HTTP, authentication or access plan in the denominator).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
import time
import uuid
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.harness import Context, Result, benchmark, median
from vault.audit.integrity import seal_pending_events, verify_audit_log
from vault.audit.models import AuditEvent
from vault.audit.service import AuditContext, record_event
from vault.bootstrap import prepare_database
from vault.crypto.envelope import KeyRing
from vault.crypto.keys import FileKeyProvider
from vault.customers.catalogue import load_catalogue
from vault.customers.service import CustomerStore
from vault.db import create_db_engine

EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "200000"))
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
KEY = b"b" * 32
CONTEXT = AuditContext("client", "cli_bench", "sales", "req", "127.0.0.1")


def _event_rows(count: int) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return [
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


@benchmark("audit.integrity")
def integrity(context: Context) -> list[Result]:
    with context.sqlite_vault("audit-integrity") as url:
        engine = create_db_engine(url)
        with Session(engine) as session:
            for start in range(0, EVENTS, 50_000):
                session.execute(sa.insert(AuditEvent), _event_rows(min(50_000, EVENTS - start)))
            session.commit()
            began = time.perf_counter()
            sealed = seal_pending_events(session, KEY, now=dt.datetime.now(dt.UTC))
            seal_seconds = time.perf_counter() - began
            began = time.perf_counter()
            report = verify_audit_log(session, KEY)
            verify_seconds = time.perf_counter() - began
        engine.dispose()
    if not report.ok or sealed.events != EVENTS:
        raise SystemExit(f"audit.integrity: the log did not verify ({report.problem})")
    seal_rate, verify_rate = EVENTS / seal_seconds, EVENTS / verify_seconds
    result = functools.partial(Result, "audit.integrity")
    return [
        result(f"sealing {EVENTS:,} events", seal_rate, "events/s", "≥ 5,000/s", seal_rate >= 5e3),
        result(
            f"verifying {EVENTS:,} events",
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
    name = f"vault_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise SystemExit(f"audit.concurrency needs PostgreSQL at {POSTGRES_URL}: {exc}") from exc
    url = POSTGRES_URL.rpartition("/")[0] + "/" + name
    try:
        prepare_database(url)
        one = _writes_per_second(url, 1, 800)
        eight = _writes_per_second(url, 8, 200)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ratio = eight / one
    result = functools.partial(Result, "audit.concurrency")
    return [
        result("PostgreSQL, 1 writer", one, "events/s"),
        result("PostgreSQL, 8 concurrent writers", eight, "events/s"),
        result("8 writers / 1 writer", ratio, "x", "≥ 1.0x (no collapse)", ratio >= 1.0),
    ]


@benchmark("audit.overhead")
def overhead(context: Context) -> list[Result]:
    with context.sqlite_vault("audit-overhead") as url:
        engine = create_db_engine(url)
        provider = FileKeyProvider.create(context.workdir / "audit-overhead.keys")
        with Session(engine) as session:
            catalogue = load_catalogue(session)
            store = CustomerStore(
                session, KeyRing(provider), catalogue, now=dt.datetime.now(dt.UTC)
            )
            ids = store.create_many(
                [({"given_name": "Ada", "family_name": "Lovelace", "email": f"ada{i}@example.org",
                   "phone": "+442079460958", "job_title": "Analyst"}, "UK") for i in range(500)]
            )  # fmt: skip
            session.commit()
            fields = ["given_name", "family_name", "email", "phone", "job_title"]

            def read(audited: bool, customer_id: str) -> None:
                reader = CustomerStore(
                    session, KeyRing(provider), catalogue, now=dt.datetime.now(dt.UTC)
                )
                record = reader.read_one(customer_id, fields)
                if audited:
                    record_event(
                        session,
                        CONTEXT,
                        action="customer.read",
                        outcome="allowed",
                        now=reader.now,
                        customer_ids=[record.id],
                        field_names=fields,
                    )
                session.commit()

            samples: dict[bool, list[float]] = {False: [], True: []}
            for n in range(2_000):
                for audited in (False, True) if n % 2 else (True, False):
                    began = time.perf_counter()
                    read(audited, ids[n % len(ids)])
                    samples[audited].append(time.perf_counter() - began)
        engine.dispose()
    plain, audited = median(samples[False][200:]), median(samples[True][200:])
    added = audited / plain - 1
    result = functools.partial(Result, "audit.overhead")
    return [
        result("single-customer read, no audit, median", plain * 1e6, "µs"),
        result("single-customer read with its audit event, median", audited * 1e6, "µs"),
        result(
            "added by the audit (store level, pessimistic)",
            added * 100,
            "%",
            "≤ 25 %",
            added <= 0.25,
        ),
    ]
