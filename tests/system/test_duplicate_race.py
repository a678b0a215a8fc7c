"""Two creates of one e-mail address at once: exactly one wins, and each loser's 409 names the
winner to a caller who may see it (on PostgreSQL the loser only learns of the clash when its
insert hits the unique index, after its own check found nothing)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS, bearer
from vault import runtime
from vault.auth.service import create_api_client
from vault.customers.index_rows import IndexRows
from vault.customers.models import Customer
from vault.db import db

RACERS = 20


def test_a_clash_found_only_by_the_unique_index_names_the_holder(
    client: FlaskClient, make_token: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sales = bearer(make_token("sales"), **{"X-Purpose": "sales"})
    first = client.post("/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
                        headers=sales)  # fmt: skip
    assert first.status_code == 201
    # As if the check ran before the other transaction committed: only the index can tell.
    monkeypatch.setattr(IndexRows, "check", lambda *_a, **_k: None)
    loser = client.post("/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
                        headers=sales)  # fmt: skip
    assert loser.status_code == 409
    assert loser.get_json()["code"] == "duplicate_customer"
    assert loser.get_json()["existing_id"] == first.get_json()["id"]
    us_only = bearer(make_token("sales", regions=("US",)), **{"X-Purpose": "sales"})
    unseen = client.post("/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "US"},
                         headers=us_only)  # fmt: skip
    assert unseen.status_code == 409
    assert "existing_id" not in unseen.get_json()
    assert SAMPLE_FIELDS["email"] not in unseen.get_data(as_text=True)


def test_of_twenty_simultaneous_creates_one_wins_and_every_loser_names_it(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()  # commits for real: the racers are separate transactions
    with app.app_context(), db.transaction() as session:
        _client, token = create_api_client(session, name="crm", role="sales", now=runtime.now())
    headers = bearer(token, **{"X-Purpose": "sales"})
    for round_ in range(3):
        body = {"fields": {**SAMPLE_FIELDS, "email": f"race-{round_}@example.org"},
                "region": "EU"}  # fmt: skip
        start = threading.Barrier(RACERS)

        def race(body: dict[str, Any] = body, start: threading.Barrier = start) -> Any:
            client = app.test_client()
            start.wait()
            return client.post("/api/v1/customers", json=body, headers=headers)

        with ThreadPoolExecutor(RACERS) as pool:
            answers = list(pool.map(lambda _i: race(), range(RACERS)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * (RACERS - 1), statuses
        winner = next(a.get_json()["id"] for a in answers if a.status_code == 201)
        named = [a.get_json().get("existing_id") for a in answers if a.status_code == 409]
        assert named == [winner] * (RACERS - 1)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 3
