"""Faults of the database under load: a served vault over a private PostgreSQL cluster, with
client threads creating customers, while the cluster is (a) stopped and started again, and
(b) frozen (SIGSTOP) and thawed. Every answer meanwhile is a 201 or a 503 with Retry-After,
none takes longer than the statement timeout plus 1 s, the vault recovers by itself, every
acknowledged create is there afterwards and the audit log verifies.

Runs on both VAULT_TEST_DATABASE settings: the database it breaks is always its own."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.helpers import SAMPLE_FIELDS
from tests.support.private_postgres import PrivatePostgres, private_postgres
from tests.support.served import served_vault
from vault import runtime
from vault.auth.service import create_api_client
from vault.bootstrap import prepare_database
from vault.customers.models import Customer
from vault.db import db

pytestmark = pytest.mark.slow

STATEMENT_MS = 4000
CONNECT_SECONDS = 2
READINESS_MS = 1000
RETRY_AFTER = "1"
# No answer may take longer than this, frozen database or not.
LATENCY_BOUND = STATEMENT_MS / 1000 + 1
CLIENTS = 4
CLIENT_TIMEOUT = 15  # a request still unanswered after this has hung


@dataclasses.dataclass
class Answer:
    started: float
    seconds: float
    status: int | None  # None: no answer (a hang or a dropped connection)
    retry_after: str | None = None
    code: str | None = None
    customer_id: str | None = None
    email: str = ""


def send(base: str, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=CLIENT_TIMEOUT)
    try:
        data = json.dumps(body) if body is not None else None
        sent = {**headers, "Content-Type": "application/json"} if data else headers
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class Clients:
    """Threads that create customers until ``stop``, each answer recorded."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(CLIENTS)]

    def run(self, number: int) -> None:
        while not self.stopping.is_set():
            email = f"c{number}-{uuid.uuid4().hex[:12]}@example.org"
            body = {"fields": {**SAMPLE_FIELDS, "email": email}, "region": "EU"}
            started = time.monotonic()
            try:
                status, headers, raw = send(self.base, "POST", "/api/v1/customers",
                                            self.headers, body)  # fmt: skip
                answer = Answer(started, time.monotonic() - started, status, email=email,
                                retry_after=headers.get("Retry-After"))  # fmt: skip
                parsed = json.loads(raw) if raw else {}
                answer.code = parsed.get("code")
                answer.customer_id = parsed.get("id") if status == 201 else None
            except OSError:
                answer = Answer(started, time.monotonic() - started, None, email=email)
            with self.lock:
                self.answers.append(answer)
            time.sleep(0.1)

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=CLIENT_TIMEOUT + 5)

    def created_after(self, moment: float) -> bool:
        with self.lock:
            return any(a.status == 201 and a.started > moment for a in self.answers)

    def during(self, start: float, end: float) -> list[Answer]:
        """The answers to requests that were open at some time between ``start`` and ``end``."""
        with self.lock:
            return [a for a in self.answers if a.started <= end and a.started + a.seconds >= start]


def recovered(clients: Clients, since: float, seconds: float = 15) -> float:
    """How long after ``since`` a create succeeded again (fails after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while not clients.created_after(since):
        assert time.monotonic() < deadline, "the vault did not recover without a restart"
        time.sleep(0.05)
    return time.monotonic() - since


@pytest.fixture
def cluster() -> Iterator[PrivatePostgres]:
    with private_postgres() as started:
        yield started


def test_the_vault_survives_a_stopped_and_a_frozen_database(
    cluster: PrivatePostgres,
    make_app: Callable[..., Flask],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    url = cluster.create_database("vault")
    prepare_database(url)
    app = make_app(url, database_statement_timeout_ms=STATEMENT_MS)
    with app.app_context(), db.transaction() as session:
        assert session.execute(sa.text("SHOW statement_timeout")).scalar() == "4s"
        _client, token = create_api_client(
            session, name="crm", role="sales", purposes=["sales"], now=runtime.now()
        )
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "sales"}
    log = tmp_path / "served.log"
    env = {
        "VAULT_DATABASE_STATEMENT_TIMEOUT_MS": str(STATEMENT_MS),
        "VAULT_DATABASE_CONNECT_TIMEOUT_SECONDS": str(CONNECT_SECONDS),
        "VAULT_DATABASE_POOL_TIMEOUT_SECONDS": str(CONNECT_SECONDS),
        "VAULT_DATABASE_RETRY_AFTER_SECONDS": RETRY_AFTER,
        "VAULT_DATABASE_OUTAGE_LOG_SECONDS": "3",
        "VAULT_READINESS_TIMEOUT_MS": str(READINESS_MS),
        "VAULT_AUDIT_SEAL_SECONDS": "1",
        "VAULT_LOG_FORMAT": "json",
    }
    readiness: list[tuple[float, int]] = []
    with served_vault(app, log, **env) as base, Clients(base, headers) as clients:
        time.sleep(1.5)
        assert clients.created_after(0), [a.status for a in clients.answers]

        stopped = time.monotonic()  # (a) stopped: connections refused
        cluster.stop("fast")
        time.sleep(3)
        cluster.start()
        started = time.monotonic()
        recovery_a = recovered(clients, started)

        frozen = time.monotonic()  # (b) frozen: connected, accepted, never answered
        cluster.freeze()
        try:
            time.sleep(1)
            for _ in range(3):
                before = time.monotonic()
                status, answer_headers, _raw = send(base, "GET", "/readyz", {})
                readiness.append((time.monotonic() - before, status))
                assert answer_headers.get("Retry-After") == RETRY_AFTER
            time.sleep(max(0.0, frozen + 6 - time.monotonic()))
        finally:
            cluster.thaw()
        thawed = time.monotonic()
        recovery_b = recovered(clients, thawed)
        time.sleep(1)

    answers = clients.answers
    outage_a, outage_b = clients.during(stopped, started), clients.during(frozen, thawed)
    refused = [a for a in answers if a.status == 503]
    acknowledged = {a.customer_id: a.email for a in answers if a.customer_id}
    stopped_503 = sum(a.status == 503 for a in outage_a)
    frozen_503 = sum(a.status == 503 for a in outage_b)
    summary = {
        "requests": len(answers),
        "created": len(acknowledged),
        "refused_503": len(refused),
        "stopped_503": stopped_503,
        "frozen_503": frozen_503,
        "max_seconds": round(max(a.seconds for a in answers), 2),
        "max_seconds_frozen": round(max(a.seconds for a in outage_b), 2),
        "readiness_seconds": [round(s, 2) for s, _ in readiness],
        "recovery_seconds": [round(recovery_a, 2), round(recovery_b, 2)],
    }
    record_property("faults", json.dumps(summary))  # the measurements, in the test's report
    assert {a.status for a in answers} <= {201, 503}, [a for a in answers if a.status != 201]
    assert all(a.retry_after == RETRY_AFTER and a.code == "database_unavailable" for a in refused)
    assert stopped_503 > 0
    assert frozen_503 > 0
    assert max(a.seconds for a in answers) <= LATENCY_BOUND
    assert all(s <= READINESS_MS / 1000 + 1 and status == 503 for s, status in readiness)

    # (c) every acknowledged create is there and reads back; the audit log verifies
    lost = unreadable(app, tmp_path / "served-after.log", env, headers, acknowledged)
    with app.app_context():
        stored = db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) or 0
        db.session.rollback()
    # A create refused with 503 may have committed all the same (its COMMIT reached the
    # server, the answer did not reach the vault): a retry with its Idempotency-Key finds it.
    after = {"lost_writes": len(lost), "committed_but_refused": stored - len(acknowledged)}
    record_property("after_faults", json.dumps(after))
    assert lost == []
    verified = audit_verify(app)
    assert verified.returncode == 0, verified.stderr

    text = log.read_text(encoding="utf-8")
    assert "database.unavailable" in text
    assert "database.available" in text
    assert "Traceback" not in text
    assert "request.crashed" not in text


def unreadable(
    app: Flask, log: Path, env: dict[str, str], headers: dict[str, str], created: dict[str, str]
) -> list[str]:
    """The ids of ``created`` (id: e-mail) that a freshly served vault does not read back."""

    def read_back(item: tuple[str, str]) -> bool:
        customer_id, email = item
        status, _headers, raw = send(base, "GET", f"/api/v1/customers/{customer_id}", headers)
        return bool(status == 200 and json.loads(raw)["fields"]["email"]["value"] == email)

    with served_vault(app, log, **env) as base, ThreadPoolExecutor(8) as pool:
        found = list(pool.map(read_back, created.items()))
    return [customer_id for customer_id, ok in zip(created, found, strict=True) if not ok]


def audit_verify(app: Flask) -> subprocess.CompletedProcess[str]:
    settings = app.config["VAULT_SETTINGS"]
    vault = shutil.which("vault", path=str(Path(sys.executable).parent))
    assert vault is not None
    environment = {
        **os.environ,
        "VAULT_DATABASE_URL": settings.database_url,
        "VAULT_INSTANCE_PATH": str(settings.instance_path),
        "VAULT_AUDIT_ANCHOR": settings.audit_anchor,
        "VAULT_ENV": "testing",
        "VAULT_SECRET_KEY": "served-test-secret-" + "x" * 32,
    }
    return subprocess.run(
        [vault, "audit", "verify", "--jobs", "1"],
        env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
