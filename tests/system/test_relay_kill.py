"""At least once, in order per customer: a `vault worker` killed with SIGKILL in the middle of
its deliveries loses none of them (the next worker sends what was not recorded as delivered),
and a receiver that fails for a while gets every event once it answers again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook

from tests.helpers import SAMPLE_FIELDS, bearer
from tests.support.receiver import Receiver, running_receiver
from vault import runtime
from vault.auth.service import create_api_client
from vault.db import db
from vault.events.models import Delivery, Event

CUSTOMERS = 30


@contextmanager
def worker(app: Flask, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`vault worker` over ``app``'s database, relaying often, two attempts at a time."""
    settings = app.config["VAULT_SETTINGS"]
    env = {**os.environ, "VAULT_DATABASE_URL": settings.database_url,
           "VAULT_INSTANCE_PATH": str(settings.instance_path), "VAULT_ENV": "testing",
           "VAULT_AUDIT_ANCHOR": settings.audit_anchor, "VAULT_EVENTS_RELAY_SECONDS": "0.05",
           "VAULT_WEBHOOK_CONCURRENCY": "2", "VAULT_WEBHOOK_FIRST_RETRY_SECONDS": "0.2",
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    vault = shutil.which("vault", path=str(Path(sys.executable).parent))
    assert vault is not None
    with log.open("a", encoding="utf-8") as output:
        process = subprocess.Popen([vault, "worker"], env=env, stdout=output,
                                   stderr=subprocess.STDOUT)  # fmt: skip
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def eventually(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def delivered_ids(receiver: Receiver, secret: str) -> list[str]:
    """The ids of the events the receiver got, verified, in the order they came."""
    hook = Webhook(secret)
    with receiver.lock:
        received = list(receiver.received)
    return [hook.verify(body, headers)["id"] for headers, body in received]


def outbox(app: Flask) -> list[tuple[str, str]]:
    """(event id, customer id) of every event, in the order of their positions."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Event.id, Event.customer_id).order_by(Event.position, Event.seq)
        )
        return [(row.id, str(row.customer_id)) for row in rows]


def recorded_delivered(app: Flask) -> int:
    with app.app_context():
        query = sa.select(sa.func.count()).where(Delivery.status == "delivered")
        return int(db.session.scalar(query) or 0)


def make_changes(client: FlaskClient, sales: dict[str, str], count: int, tag: str) -> None:
    for number in range(count):
        fields = {**SAMPLE_FIELDS, "email": f"{tag}{number}@example.org"}
        made = client.post("/api/v1/customers", json={"fields": fields, "region": "EU"},
                           headers=sales)  # fmt: skip
        assert made.status_code == 201, made.get_json()
        changed = client.patch(f"/api/v1/customers/{made.get_json()['id']}", headers=sales,
                               json={"fields": {"company": f"Firm {number}"}})  # fmt: skip
        assert changed.status_code == 200


def assert_in_order_per_customer(ids: list[str], events: list[tuple[str, str]]) -> None:
    first_seen: dict[str, int] = {}
    for index, event_id in enumerate(ids):
        first_seen.setdefault(event_id, index)
    by_customer: dict[str, list[str]] = {}
    for event_id, customer_id in events:
        by_customer.setdefault(customer_id, []).append(event_id)
    for customer_id, own in by_customer.items():
        arrived = sorted(own, key=lambda e: first_seen[e])
        assert arrived == own, customer_id


def test_a_worker_killed_mid_delivery_loses_nothing_and_a_failing_receiver_catches_up(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app()
    with app.app_context():
        admin = create_api_client(db.session, name="ops", role="admin", now=runtime.now())[1]
        crm = create_api_client(db.session, name="crm", role="sales", now=runtime.now())[1]
        db.session.commit()
    client = app.test_client()
    sales = bearer(crm, **{"X-Purpose": "sales"})
    log = tmp_path / "worker.log"
    with running_receiver() as receiver:
        receiver.delay = 0.03
        made = client.post("/api/v1/subscriptions", headers=bearer(admin), json={
            "name": "crm-hooks", "url": receiver.url, "client": "crm",
            "events": ["customer.created", "customer.updated"]})  # fmt: skip
        assert made.status_code == 201
        secret = made.get_json()["secret"]
        make_changes(client, sales, CUSTOMERS, "first")
        total = 2 * CUSTOMERS
        with worker(app, log) as first:
            eventually(lambda: len(receiver.received) >= total // 4)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        time.sleep(0.2)  # what was on its way when it died has reached the receiver
        got_before_restart = set(delivered_ids(receiver, secret))
        assert len(got_before_restart) < total, "the worker was killed after all was done"
        assert recorded_delivered(app) <= len(got_before_restart)

        with worker(app, log):
            eventually(lambda: len(set(delivered_ids(receiver, secret))) == total)
            # the receiver fails for a while; what happens meanwhile reaches it afterwards
            receiver.answers = [503] * 10_000
            make_changes(client, sales, 5, "later")
            # tried and refused more than once (the receiver is left alone between tries)
            eventually(lambda: any(d.attempts >= 2 for d in attempts(app)))
            with receiver.lock:
                receiver.answers = []
            events = outbox(app)
            eventually(lambda: set(delivered_ids(receiver, secret)) == {e for e, _c in events})
            eventually(lambda: recorded_delivered(app) == len(events))
    ids = delivered_ids(receiver, secret)
    assert len(events) == total + 10
    assert_in_order_per_customer(ids, events)


def attempts(app: Flask) -> list[Delivery]:
    """The deliveries that have failed at least once and are still to be made."""
    with app.app_context():
        query = sa.select(Delivery).where(Delivery.status == "pending", Delivery.attempts > 0)
        return list(db.session.scalars(query))
