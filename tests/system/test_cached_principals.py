"""Each worker keeps the principals of the bearer tokens it has seen, and the plans of the
roles: a revoked token and a changed policy must still apply on the very next request, in
every worker of `vault serve --workers 2`."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.helpers import SAMPLE_FIELDS, bearer
from tests.support.served import served_vault
from vault import runtime
from vault.audit.service import AuditContext
from vault.auth.clients import revoke_client
from vault.auth.service import create_api_client
from vault.db import db
from vault.policies.plan import Rule
from vault.policies.service import add_rules, remove_rule

BURST = 40  # requests per burst, 8 at a time: each worker usually takes some of them
MAX_BURSTS = 10


def _burst(url: str, headers: dict[str, str]) -> dict[str, tuple[int, Any]]:
    """``BURST`` GETs of ``url``, 8 at a time; their answers (status, body) by request id."""

    def one(_: int) -> tuple[str, tuple[int, Any]]:
        request_id = uuid.uuid4().hex
        request = urllib.request.Request(url, headers={**headers, "X-Request-ID": request_id})  # noqa: S310  (127.0.0.1)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return request_id, (answer.status, json.load(answer))
        except urllib.error.HTTPError as refused:
            return request_id, (refused.code, json.load(refused))

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, range(BURST)))


def _pids(log: Path, request_ids: set[str]) -> set[int]:
    """The worker processes that answered these requests (their request.completed lines)."""
    found = set()
    for line in log.read_text(encoding="utf-8").splitlines():
        if "request.completed" not in line:
            continue
        request_id = re.search(r"request_id=(\w+)", line)
        if request_id and request_id[1] in request_ids:
            pid = re.search(r"pid=(\d+)", line)
            assert pid is not None, line
            found.add(int(pid[1]))
    return found


def _setup(app: Flask) -> tuple[str, str, str]:
    """A sales client and a customer it sees; returns (client id, token, customer id)."""
    with app.app_context():
        client, token = create_api_client(db.session, name="crm", role="sales",
                                          now=runtime.now())  # fmt: skip
        customer_id = runtime.customer_store().create(
            {**SAMPLE_FIELDS, "email": "cache@example.org"}, region="EU"
        )
        db.session.commit()
        return client.id, token, customer_id


def _shows_email(status: int, body: Any) -> bool:
    return status == 200 and "email" in body["fields"]


def _hides_email(status: int, body: Any) -> bool:
    return status == 200 and "email" not in body["fields"]


def _token_refused(status: int, body: Any) -> bool:
    return status == 401 and body["code"] == "invalid_token"


@dataclasses.dataclass
class Served:
    """A vault under `vault serve --workers 2`, a sales client and a customer it sees."""

    app: Flask
    log: Path
    client_id: str
    read: str  # the customer's URL
    headers: dict[str, str]

    def burst_answered_by_both(self, check: Callable[[int, Any], bool]) -> None:
        """Bursts until both workers have answered (on a busy machine one worker can take a
        whole burst), at most ``MAX_BURSTS``; every answer of every burst must pass."""
        answered: set[str] = set()
        for _ in range(MAX_BURSTS):
            answers = _burst(self.read, self.headers)
            assert all(check(status, body) for status, body in answers.values()), sorted(
                (status, body.get("code")) for status, body in answers.values()
            )
            answered |= set(answers)
            if len(_pids(self.log, answered)) == 2:
                break
        assert len(_pids(self.log, answered)) == 2  # both workers answered since the change


@pytest.fixture
def served(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Served]:
    app = make_app()
    client_id, token, customer_id = _setup(app)
    log = tmp_path / "serve.log"
    # each refusal counts against the address; the limit on refusals is not what is tested
    unlimited = {"VAULT_TOKEN_FAILURE_LIMIT": f"{10 * BURST} per minute"}
    with served_vault(app, log, "--workers", "2", "--no-jobs", **unlimited) as url:
        yield Served(app, log, client_id, f"{url}/api/v1/customers/{customer_id}",
                     bearer(token, **{"X-Purpose": "sales"}))  # fmt: skip


def test_a_revoked_token_is_refused_by_every_worker_on_the_next_request(served: Served) -> None:
    served.burst_answered_by_both(_shows_email)
    with served.app.app_context():
        context = AuditContext(actor_kind="user", actor_id="usr_test")
        revoke_client(db.session, served.client_id, context, now=runtime.now())
        db.session.commit()
    served.burst_answered_by_both(_token_refused)


def test_a_changed_policy_applies_in_every_worker_on_the_next_request(served: Served) -> None:
    served.burst_answered_by_both(_shows_email)
    with served.app.app_context():
        (denial,) = add_rules(db.session, [Rule("sales", "email", "sales", "read", "deny")])
        db.session.commit()
        denial_id = denial.id
    served.burst_answered_by_both(_hides_email)
    with served.app.app_context():
        remove_rule(db.session, denial_id)
        db.session.commit()
    served.burst_answered_by_both(_shows_email)
