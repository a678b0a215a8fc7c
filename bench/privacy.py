"""The privacy portal: the export of a customer with 1,000 interactions and 10,000 audit events
(time, and peak memory against a history ten times longer: the ZIP streams), the erasure of one
customer, and whether the portal answers a known and an unknown address in the same time."""

from __future__ import annotations

import collections
import datetime as dt
import re
import statistics
import time
import tracemalloc
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.harness import Context, Result, benchmark
from bench.synthetic import synthetic_customer
from vault import runtime
from vault.audit.canonical import content_text, event_mac
from vault.audit.models import AuditEvent
from vault.audit.service import SYSTEM
from vault.customers.models import Interaction
from vault.db import db
from vault.privacy.desk import PrivacyDesk
from vault.privacy.export import Export

INTERACTIONS = 1_000
EVENTS = 10_000
GROWTH = 10  # the longer history for the memory comparison
ERASURES = 30
PORTAL_ROUNDS = 200


def _customer_with_history(app: Flask, index: int, interactions: int, events: int) -> str:
    """One customer, its interactions (encrypted texts) and audit events naming it."""
    with app.app_context(), db.transaction():
        store = runtime.customer_store()
        region, fields = synthetic_customer(index)
        customer_id = store.create(fields, region=region)
        cipher = store.cipher_for(customer_id)
        now = store.now
        rows = []
        for n in range(interactions):
            interaction_id = f"int_{index:08x}{n:024x}"
            text = f"Order {n}: two items, delivered to the usual address".encode()
            rows.append({
                "id": interaction_id, "customer_id": customer_id, "kind": "purchase",
                "channel": "web", "occurred_at": now - dt.timedelta(minutes=n), "amount": 19.9,
                "currency": "EUR", "created_at": now,
                "text_ciphertext": cipher.encrypt(f"interaction:{interaction_id}:text", text),
            })  # fmt: skip
        if rows:
            db.session.execute(sa.insert(Interaction), rows)
        key = runtime.audit_log().key  # events as writers make them, with their MACs
        for start in range(0, events, 10_000):
            count = min(10_000, events - start)
            batch = [{"occurred_at": now, "actor_kind": "client", "actor_id": "cli_crm",
                      "purpose": "sales", "action": "customer.read", "customer_ids": customer_id,
                      "field_names": "email given_name", "outcome": "allowed", "reason": "",
                      "request_id": f"req-{start + i}", "client_address": "127.0.0.1"}
                     for i in range(count)]  # fmt: skip
            for row in batch:
                row["mac"] = event_mac(key, content_text(row))
            db.session.execute(sa.insert(AuditEvent), batch)
    with app.app_context():  # most of a real history is sealed (and linked to the customer)
        runtime.audit_log().seal(db.session, now=runtime.now())
    return customer_id


def _email_of(app: Flask, customer_id: str) -> str:
    with app.app_context():
        store = runtime.customer_store()
        email: str = store.read_one(customer_id, ["email"]).values["email"]
        return email


def _verified(address: str, kind: str) -> tuple[PrivacyDesk, Any, str]:
    """A request for ``address`` submitted; returns the desk, the request and its code."""
    store = runtime.customer_store()
    desk = PrivacyDesk(store, SYSTEM, per_address_limit=10**6)
    request, outgoing = desk.submit(address, kind)
    assert outgoing is not None
    code = re.search(r"^(\d{8})$", outgoing.body, re.MULTILINE)
    assert code is not None
    return desk, request, code[1]


def _opened_export(app: Flask, customer_id: str) -> Export:
    """A verified export request of the customer, its link spent: ready to stream."""
    address = _email_of(app, customer_id)
    desk, request, code = _verified(address, "export")
    url = desk.verify(request.id, code).download_url
    assert url is not None
    item = desk.open_download(url.rsplit("/", 1)[1])
    assert item is not None
    db.session.commit()
    assert item.customer_id is not None
    return Export(runtime.customer_store(), item.id, item.customer_id)


def _export(app: Flask, customer_id: str) -> tuple[float, int, int]:
    """Seconds and peak traced bytes to stream the export; its size."""
    with app.app_context():
        export = _opened_export(app, customer_id)
        tracemalloc.start()
        began = time.perf_counter()
        size = sum(len(chunk) for chunk in export.stream())
        seconds = time.perf_counter() - began
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return seconds, peak, size


def _export_time(app: Flask, customer_id: str) -> float:
    """Seconds to stream the export, without tracing (which slows Python down)."""
    with app.app_context():
        export = _opened_export(app, customer_id)
        began = time.perf_counter()
        collections.deque(export.stream(), maxlen=0)  # consumed, nothing kept
        return time.perf_counter() - began


@benchmark("privacy.export")
def export(context: Context) -> list[Result]:
    app = context.vault_app("privacy-export")
    small = _customer_with_history(app, 1, INTERACTIONS, EVENTS)
    large = _customer_with_history(app, 2, INTERACTIONS * GROWTH, EVENTS * GROWTH)
    seconds = statistics.median(_export_time(app, small) for _ in range(5))
    _t, small_peak, small_size = _export(app, small)
    _t, large_peak, large_size = _export(app, large)
    growth = large_peak / small_peak
    return [
        Result("privacy.export", "export, 1,000 interactions + 10,000 audit events", seconds,
               "s", "<= 1 s", seconds <= 1),
        Result("privacy.export", "ZIP size", small_size / 1024, "KiB"),
        Result("privacy.export", "peak memory, that history", small_peak / 2**20, "MiB"),
        Result("privacy.export", f"peak memory, a {GROWTH}x longer history ({large_size >> 10:,}"
               " KiB ZIP)", large_peak / 2**20, "MiB"),
        Result("privacy.export", f"peak memory growth for {GROWTH}x the history", growth, "x",
               "<= 1.5x (flat)", growth <= 1.5),
    ]  # fmt: skip


@benchmark("privacy.erasure")
def erasure(context: Context) -> list[Result]:
    app = context.vault_app("privacy-erasure")
    customers = [_customer_with_history(app, 10 + i, 20, 50) for i in range(ERASURES)]
    samples = []
    for customer_id in customers:
        address = _email_of(app, customer_id)
        with app.app_context():
            desk, request, code = _verified(address, "erasure")
            db.session.commit()
            began = time.perf_counter()
            result = desk.verify(request.id, code)
            db.session.commit()
            samples.append(time.perf_counter() - began)
            assert result.request.status == "completed"
    latency = statistics.median(samples) * 1000
    return [
        Result("privacy.erasure", "erasure of one customer (verify, erase, certificate, audit, "
               "commit), median", latency, "ms", "<= 50 ms", latency <= 50),
        Result("privacy.erasure", "slowest of 30", max(samples) * 1000, "ms"),
    ]  # fmt: skip


@benchmark("privacy.portal")
def portal(context: Context) -> list[Result]:
    """POST /privacy/requests for a known and an unknown address, alternately: the same time
    (no enumeration by timing). The outbox mailer writes a file for the known one."""
    app = context.vault_app(
        "privacy-portal", privacy_requests_per_address=10**6, privacy_rate_limit="1000000/minute"
    )
    known = _email_of(app, _customer_with_history(app, 99, 0, 0))
    client = app.test_client()
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for n in range(PORTAL_ROUNDS):
        for label, address in (("known", known), ("unknown", f"nobody{n}@example.org")):
            began = time.perf_counter()
            response = client.post("/privacy/requests", json={"email": address, "type": "export"})
            timings[label].append(time.perf_counter() - began)
            assert response.status_code == 202
    known_ms = statistics.median(timings["known"]) * 1000
    unknown_ms = statistics.median(timings["unknown"]) * 1000
    ratio = known_ms / unknown_ms
    return [
        Result("privacy.portal", "request, known address, median", known_ms, "ms"),
        Result("privacy.portal", "request, unknown address, median", unknown_ms, "ms"),
        Result("privacy.portal", "known / unknown", ratio, "x", "0.8-1.25x",
               0.8 <= ratio <= 1.25),
    ]  # fmt: skip
