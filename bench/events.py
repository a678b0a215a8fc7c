"""Events for consumer systems, on PostgreSQL (``BENCH_POSTGRES_URL``):

- what writing the outbox adds to a create and to a consent change: the same calls, one per
  transaction, with the outbox write and with it left out (``outbox.record`` replaced by a
  no-op), alternated in rounds in one run;
- the relay's throughput: ``BENCH_EVENTS_DELIVERIES`` (default 10,000) customers created, one
  subscription, the relay (``Relay.run_for`` as the worker runs it) numbering, fanning out and
  delivering them to a fast local receiver (``bench.receiver``, a process of its own), from
  its start to the last delivery recorded;
- how soon after its commit the first attempt of an event lands, while a `vault worker`
  process runs with the default settings: customers created one at a time, each commit's
  time against the receiver's time of arrival.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import sqlalchemy as sa
from flask import Flask

from bench.harness import Context, Result, benchmark, postgres_database
from bench.synthetic import synthetic_customer
from vault import jobs, runtime
from vault.auth.service import create_api_client
from vault.db import db
from vault.events import outbox
from vault.events.models import Delivery, Event
from vault.governance.consent import record_consent

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DELIVERIES = int(os.environ.get("BENCH_EVENTS_DELIVERIES", "10000"))
ROUNDS = 5
PER_ROUND = 200
LATENCY_EVENTS = 200
LATENCY_RATE = 20.0  # customers created per second while the worker runs


@benchmark("events")
def events(context: Context) -> list[Result]:
    with postgres_database(POSTGRES_URL, "bench events") as url:
        app = context.vault_app("events", database_url=url)
        try:
            results = outbox_cost(app)
            with receiver() as hooks:
                subscribe(app, hooks)
                results += relay_throughput(app, hooks)
                results += first_attempt(app, hooks, context)
        finally:
            db.state(app).dispose()
    return results


# --- the outbox's cost ------------------------------------------------------------------------


def outbox_cost(app: Flask) -> list[Result]:
    """Creates and consent changes, one per transaction, with and without the outbox."""
    numbers = iter(range(10**9))
    with app.app_context():
        store = runtime.customer_store()

        def create() -> None:
            region, fields = synthetic_customer(next(numbers))
            store.create(fields, region=region)
            db.session.commit()

        create()
        customer_id = db.session.scalar(sa.select(Event.customer_id).limit(1))
        assert customer_id is not None
        granted = [False]

        def change_consent() -> None:
            granted[0] = not granted[0]
            record_consent(store, customer_id, purpose="marketing", granted=granted[0],
                           source="bench")  # fmt: skip
            db.session.commit()

        results = []
        for name, call in (("create", create), ("consent change", change_consent)):
            with_outbox, without = _alternated(call)
            added = with_outbox / without - 1
            results += [
                Result("events.outbox", f"{name}, with the outbox, per call", with_outbox * 1e6,
                       "µs"),
                Result("events.outbox", f"{name}, outbox left out, per call", without * 1e6,
                       "µs"),
                Result("events.outbox", f"{name}: what the outbox adds", added * 100, "%",
                       "<= 10 %", added <= 0.10),
            ]  # fmt: skip
    return results


def _alternated(call: Callable[[], None]) -> tuple[float, float]:
    """Median seconds per call with the outbox and without it, over ``ROUNDS`` alternated
    rounds of ``PER_ROUND`` calls each (after a warm-up round of each)."""
    rounds: dict[bool, list[float]] = {True: [], False: []}
    for number in range(ROUNDS + 1):
        for writing in (True, False):
            patch = contextlib.nullcontext() if writing else mock.patch.object(
                outbox, "record", return_value=[])  # fmt: skip
            with patch:
                began = time.perf_counter()
                for _ in range(PER_ROUND):
                    call()
                spent = (time.perf_counter() - began) / PER_ROUND
            if number:
                rounds[writing].append(spent)
    return statistics.median(rounds[True]), statistics.median(rounds[False])


# --- the receiver and the subscription ---------------------------------------------------------


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    """``bench.receiver`` in a process of its own; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                stats(url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/stats", timeout=10) as answer:  # noqa: S310  (loopback)
        found: dict[str, Any] = json.load(answer)
        return found


def subscribe(app: Flask, url: str) -> None:
    with app.app_context():
        now = runtime.now()
        admin = create_api_client(db.session, name="ops", role="admin", now=now)[1]
        create_api_client(db.session, name="crm", role="sales", now=now)
        db.session.commit()
    made = app.test_client().post(
        "/api/v1/subscriptions", headers={"Authorization": f"Bearer {admin}"},
        json={"name": "crm-hooks", "url": url + "/hooks", "client": "crm",
              "events": ["customer.created", "customer.updated", "consent.changed"]},
    )  # fmt: skip
    if made.status_code != 201:
        raise RuntimeError(f"the subscription was refused: {made.get_json()}")


# --- the relay --------------------------------------------------------------------------------


def _delivered(app: Flask) -> int:
    with app.app_context():
        query = sa.select(sa.func.count()).where(Delivery.status == "delivered")
        return int(db.session.scalar(query) or 0)


def _last_delivered_at(app: Flask) -> dt.datetime:
    with app.app_context():
        last: dt.datetime | None = db.session.scalar(sa.select(sa.func.max(Delivery.delivered_at)))
        assert last is not None
        return last


def _waiting(app: Flask) -> int:
    """Events not yet numbered and deliveries not yet made."""
    with app.app_context():
        unnumbered = sa.select(sa.func.count()).where(Event.position.is_(None))
        pending = sa.select(sa.func.count()).where(Delivery.status == "pending")
        return int(db.session.scalar(unnumbered) or 0) + int(db.session.scalar(pending) or 0)


def _drain(app: Flask) -> None:
    """Deliver what earlier benchmarks left (their events reach the new subscription), so
    that the relay's timed run delivers its own events only."""
    stop = threading.Event()
    settings = app.config["VAULT_SETTINGS"]

    def relay() -> None:
        with app.app_context():
            jobs.relay(settings).run_for(stop, seconds=300, idle=settings.events_relay_seconds)

    thread = threading.Thread(target=relay)
    thread.start()
    try:
        deadline = time.monotonic() + 300
        while _waiting(app) and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        stop.set()
        thread.join()


def relay_throughput(app: Flask, url: str) -> list[Result]:
    """``DELIVERIES`` events numbered, fanned out and delivered by one relay."""
    _drain(app)
    before = _delivered(app)
    arrived_before = stats(url)["count"]
    with app.app_context():
        store = runtime.customer_store()
        for start in range(0, DELIVERIES, 1_000):
            batch = range(1_000_000 + start, 1_000_000 + min(start + 1_000, DELIVERIES))
            store.create_many([(f, r) for r, f in map(synthetic_customer, batch)])
            db.session.commit()
    stop = threading.Event()
    began = time.perf_counter()
    with app.app_context():
        began_at = runtime.now()

    def relay() -> None:
        settings = app.config["VAULT_SETTINGS"]
        with app.app_context():
            jobs.relay(settings).run_for(stop, seconds=600, idle=settings.events_relay_seconds)

    thread = threading.Thread(target=relay)
    thread.start()
    try:
        while _delivered(app) < before + DELIVERIES:
            if not thread.is_alive() or time.perf_counter() - began > 600:
                raise RuntimeError("the relay stopped before delivering everything")
            # Polled seldom, not to take the relay's CPU: the time is the last delivery's
            # own record, not the poll's.
            time.sleep(0.25)
        spent = (_last_delivered_at(app) - began_at).total_seconds()
    finally:
        stop.set()
        thread.join()
    rate = DELIVERIES / spent
    arrived = stats(url)["count"] - arrived_before
    return [
        Result("events.relay", f"{DELIVERIES:,} events numbered, fanned out and delivered",
               spent, "s"),
        Result("events.relay", "webhook deliveries per second (one relay, local receiver)",
               rate, "deliveries/s", ">= 2,000", rate >= 2_000),
        Result("events.relay", "POSTs the receiver answered", arrived, "requests"),
    ]  # fmt: skip


def first_attempt(app: Flask, url: str, context: Context) -> list[Result]:
    """Customers created one at a time while `vault worker` runs (default settings): how long
    from each commit to its event's first arrival at the receiver."""
    settings = app.config["VAULT_SETTINGS"]
    env = {**os.environ, "VAULT_DATABASE_URL": settings.database_url,
           "VAULT_INSTANCE_PATH": str(settings.instance_path), "VAULT_ENV": "testing",
           "VAULT_AUDIT_ANCHOR": settings.audit_anchor, "VAULT_LOG_LEVEL": "WARNING",
           "VAULT_SECRET_KEY": "b" * 40}  # fmt: skip
    vault = shutil.which("vault", path=str(Path(sys.executable).parent))
    assert vault is not None
    log = (context.workdir / "worker.log").open("w")
    worker = subprocess.Popen([vault, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    committed: dict[str, float] = {}
    try:
        time.sleep(3)  # started: the first rounds of the other jobs are done
        with app.app_context():
            store = runtime.customer_store()
            for number in range(LATENCY_EVENTS):
                region, fields = synthetic_customer(2_000_000 + number)
                customer_id = store.create(fields, region=region)
                db.session.commit()
                committed[customer_id] = time.time()
                time.sleep(1 / LATENCY_RATE)
            rows = db.session.execute(
                sa.select(Event.customer_id, Event.id).where(
                    Event.customer_id.in_(sorted(committed))
                )
            )
            events = {str(row.customer_id): str(row.id) for row in rows}
        deadline = time.monotonic() + 30
        while True:
            arrivals = stats(url)["arrivals"]
            if all(event in arrivals for event in events.values()):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("not every event reached the receiver within 30 s")
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
    waits = sorted(arrivals[events[c]] - at for c, at in committed.items())
    p50 = statistics.median(waits)
    p99 = statistics.quantiles(waits, n=100)[98]
    return [
        Result("events.first_attempt", "commit to first arrival, p50 (worker running)", p50,
               "s"),
        Result("events.first_attempt", "commit to first arrival, p99 (worker running)", p99,
               "s", "<= 1 s", p99 <= 1.0),
    ]  # fmt: skip
