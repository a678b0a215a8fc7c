"""A policy change made through the API applies in every gunicorn worker on its next request
(two worker processes over one database: PostgreSQL in CI's second run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask

from tests.helpers import SAMPLE_FIELDS, TEST_SECRET_KEY
from tests.support.ports import listening_port
from vault import runtime
from vault.auth.service import create_api_client
from vault.bootstrap import prepare_database
from vault.db import db


def request(url: str, token: str, purpose: str = "", body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if purpose:
        headers["X-Purpose"] = purpose
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310  (http://127.0.0.1 only)
        url, data=data, headers=headers, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310  (127.0.0.1 only)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_policy_change_reaches_every_worker(
    fresh_database_url: str, make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    prepare_database(fresh_database_url)
    app = make_app(fresh_database_url)
    settings = app.config["VAULT_SETTINGS"]
    with app.app_context(), db.transaction() as session:
        now = runtime.now()
        _c, support = create_api_client(session, name="desk", role="support", now=now)
        _c, admin = create_api_client(session, name="ops", role="admin", now=now)
        customer_id = runtime.customer_store().create(SAMPLE_FIELDS, region="EU")
    access_log, error_log = tmp_path / "access.log", tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "VAULT_ENV": "testing",
        "VAULT_DATABASE_URL": fresh_database_url,
        "VAULT_INSTANCE_PATH": str(settings.instance_path),
        "VAULT_AUDIT_ANCHOR": settings.audit_anchor,
        "VAULT_SECRET_KEY": TEST_SECRET_KEY,
        "VAULT_LOG_FORMAT": "json",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "--workers", "2", "--bind", "127.0.0.1:0", "--error-logfile",
         str(error_log), "--access-logfile", str(access_log), "--access-logformat", "%(p)s %(U)s",
         "vault.app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{listening_port(error_log, server)}"
        customer_url = f"{base}/api/v1/customers/{customer_id}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)

        def burst_until_both_workers_answered() -> list[dict[str, Any]]:
            """Concurrent reads until both worker pids have served some; returns every view."""
            views: list[dict[str, Any]] = []
            start = len(access_log.read_text().splitlines()) if access_log.exists() else 0
            with ThreadPoolExecutor(max_workers=6) as pool:
                for _ in range(20):
                    results = list(
                        pool.map(lambda _i: request(customer_url, support, "support"), range(12))
                    )
                    assert all(status == 200 for status, _body in results), results
                    views += [body for _status, body in results]
                    lines = access_log.read_text().splitlines()[start:]
                    pids = {line.split()[0] for line in lines if customer_id in line}
                    if len(pids) == 2:
                        return views
            raise AssertionError("only one worker answered")

        before = burst_until_both_workers_answered()
        assert all("company" not in view["fields"] for view in before)
        rule = {
            "role": "support",
            "object": "company",
            "purpose": "support",
            "action": "read",
            "effect": "allow",
        }
        status, body = request(f"{base}/api/v1/policies", admin, body=rule)
        assert status == 201, body
        after = burst_until_both_workers_answered()
        assert all(view["fields"]["company"]["value"] == SAMPLE_FIELDS["company"] for view in after)
    finally:
        server.terminate()
        server.wait(timeout=20)
