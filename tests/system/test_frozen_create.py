"""A create caught by a database freeze halfway through its transaction: the vault gives up
within the statement timeout plus a second (503 with Retry-After), and the create is not
committed afterwards, when the database runs again (it was, before the vault bounded its own
waits: the request hung for as long as the freeze lasted and committed when it ended, long
after its client had given up).

Runs on both VAULT_TEST_DATABASE settings: the database it freezes is always its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from tests.helpers import SAMPLE_FIELDS, bearer
from tests.support.private_postgres import PrivatePostgres, private_postgres
from vault import runtime
from vault.auth.service import create_api_client
from vault.bootstrap import prepare_database
from vault.db import db

pytestmark = pytest.mark.slow

STATEMENT_MS = 2000
LATENCY_BOUND = STATEMENT_MS / 1000 + 1
THAW_AFTER = 12  # seconds: without a bound of its own, the request waits this long


@pytest.fixture
def cluster() -> Iterator[PrivatePostgres]:
    with private_postgres() as started:
        yield started


def stored_customers(url: str) -> int:
    """How many customers the database holds, read on a connection of its own."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM customers").fetchone()
    assert row is not None
    return int(row[0])


def test_a_create_frozen_mid_transaction_is_refused_in_time_and_never_committed(
    cluster: PrivatePostgres, make_app: Callable[..., Flask]
) -> None:
    url = cluster.create_database("vault")
    prepare_database(url)
    app = make_app(
        url,
        database_statement_timeout_ms=STATEMENT_MS,
        database_connect_timeout_seconds=2,
        database_pool_timeout_seconds=2,
        database_retry_after_seconds=3,
    )
    with app.app_context(), db.transaction() as session:
        _client, token = create_api_client(
            session, name="crm", role="sales", purposes=["sales"], now=runtime.now()
        )
    headers = bearer(token, **{"X-Purpose": "sales"})
    client = app.test_client()

    def create(n: int) -> Any:
        body = {"fields": {**SAMPLE_FIELDS, "email": f"frozen-{n}@example.org"}, "region": "EU"}
        return client.post("/api/v1/customers", json=body, headers=headers)

    assert create(0).status_code == 201  # warm: a pooled connection, the token known
    assert stored_customers(url) == 1

    frozen: list[float] = []

    def freeze_at_the_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not frozen and statement.lstrip().upper().startswith("INSERT INTO CUSTOMERS"):
            cluster.freeze()  # the INSERT is sent to a server that no longer runs
            frozen.append(time.monotonic())

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", freeze_at_the_insert)
    safety = threading.Timer(THAW_AFTER, cluster.thaw)  # a request that waits would hang
    safety.start()
    try:
        started = time.monotonic()
        refused = create(1)
        seconds = time.monotonic() - started
        thawed_by_safety = not cluster.frozen
    finally:
        sa.event.remove(engine, "before_cursor_execute", freeze_at_the_insert)
        safety.cancel()
        cluster.thaw()

    assert frozen, "the create never reached its INSERT"
    # The server, running again, reads the INSERT and then a closed connection: it rolls the
    # transaction back. Give it the time to (the idle-in-transaction timeout is longer).
    time.sleep(2)
    outcome = {
        "status": refused.status_code,
        "code": (refused.get_json() or {}).get("code"),
        "retry_after": refused.headers.get("Retry-After"),
        "waited_for_the_thaw": thawed_by_safety,
        "within_bound": seconds <= LATENCY_BOUND,
        "stored": stored_customers(url),
    }
    assert outcome == {
        "status": 503,
        "code": "database_unavailable",
        "retry_after": "3",
        "waited_for_the_thaw": False,
        "within_bound": True,
        "stored": 1,  # the warm-up's only
    }, f"{outcome} after {seconds:.1f} s"
    answered = create(2)  # and the vault recovers by itself
    assert answered.status_code == 201, answered.get_json()
    assert stored_customers(url) == 2
