"""Refused bearer tokens are counted per client address in the rate-limit storage; past the
limit, that address's bearer requests get 429 before any token is checked. With redis://
every worker counts in one place (a real Redis, ``VAULT_TEST_REDIS_URL``, by default on
127.0.0.1:6379: a missing Redis fails the run)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import bearer
from vault.auth.service import create_api_client
from vault.bootstrap import prepare_database
from vault.clock import FixedClock
from vault.db import db
from vault.errors import ConfigurationError

REDIS_URL = os.environ.get("VAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379")
UNKNOWN = "vault_0123456789abcdef_" + "A" * 43


def valid_token(app: Flask, clock: FixedClock) -> str:
    with app.app_context(), db.transaction() as session:
        _client, token = create_api_client(
            session, name=f"crm-{uuid.uuid4().hex[:8]}", role="sales", now=clock.now()
        )
    return token


def me(client: FlaskClient, token: str, address: str = "192.0.2.10") -> int:
    response = client.get(
        "/api/v1/me", headers=bearer(token), environ_base={"REMOTE_ADDR": address}
    )
    return response.status_code


def test_refused_tokens_throttle_their_address_before_any_token_is_checked(
    make_app: Callable[..., Flask], clock: FixedClock
) -> None:
    app = make_app(token_failure_limit="3 per minute")
    client, token = app.test_client(), valid_token(app, clock)
    assert [me(client, token) for _ in range(5)] == [200] * 5  # good tokens do not count
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    expired_or_bad = [UNKNOWN, "vault_nonsense", tampered]
    assert [me(client, bad) for bad in expired_or_bad] == [401, 401, 401]

    throttled = client.get(
        "/api/v1/me", headers=bearer(token), environ_base={"REMOTE_ADDR": "192.0.2.10"}
    )
    assert throttled.status_code == 429
    assert throttled.mimetype == "application/problem+json"
    assert throttled.get_json()["code"] == "rate_limited"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert me(client, UNKNOWN) == 429
    # another address is not throttled, nor is this one without a bearer token
    assert me(client, token, address="192.0.2.99") == 200
    anonymous = client.get("/api/v1/me", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert anonymous.status_code == 401


def test_the_default_limit_is_20_refusals_a_minute(client: FlaskClient) -> None:
    assert [me(client, UNKNOWN) for _ in range(21)] == [401] * 20 + [429]


def test_a_revoked_token_counts_as_a_refusal(
    make_app: Callable[..., Flask], clock: FixedClock
) -> None:
    app = make_app(token_failure_limit="2 per minute")
    client = app.test_client()
    token = valid_token(app, clock)
    clock.advance(minutes=1)
    with app.app_context(), db.transaction() as session:
        from vault.auth.service import revoke_api_client

        revoke_api_client(session, "cli_" + token.split("_")[1], now=clock.now())
    assert [me(client, token) for _ in range(3)] == [401, 401, 429]


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis, whose keys are removed after."""
    prefix = f"vault-test-{uuid.uuid4().hex}"
    yield prefix
    connection = redis.Redis.from_url(REDIS_URL)
    for key in connection.scan_iter(match=f"*{prefix}*"):
        connection.delete(key)
    connection.close()


def test_workers_count_refusals_together_in_redis(
    make_app: Callable[..., Flask], fresh_database_url: str, clock: FixedClock, key_prefix: str
) -> None:
    prepare_database(fresh_database_url)
    settings = {"ratelimit_storage_uri": REDIS_URL, "ratelimit_key_prefix": key_prefix,
                "token_failure_limit": "4 per minute"}  # fmt: skip
    one, two = make_app(fresh_database_url, **settings), make_app(fresh_database_url, **settings)
    token = valid_token(one, clock)
    first, second = one.test_client(), two.test_client()
    assert [me(first, UNKNOWN), me(second, UNKNOWN), me(first, UNKNOWN)] == [401] * 3
    assert me(second, token) == 200
    assert me(second, UNKNOWN) == 401  # the fourth refusal, counted by the other worker
    assert me(first, token) == 429
    assert me(second, token) == 429
    assert redis.Redis.from_url(REDIS_URL).keys(f"*{key_prefix}*")


def test_in_memory_counts_are_each_workers_own(
    make_app: Callable[..., Flask], fresh_database_url: str, clock: FixedClock
) -> None:
    """Why several workers need redis://: with memory:// each counts only its own."""
    prepare_database(fresh_database_url)
    one, two = (make_app(fresh_database_url, token_failure_limit="2 per minute")
                for _ in range(2))  # fmt: skip
    token = valid_token(one, clock)
    first, second = one.test_client(), two.test_client()
    assert [me(first, UNKNOWN), me(first, UNKNOWN), me(second, UNKNOWN)] == [401] * 3
    assert me(first, token) == 429
    assert me(second, token) == 200


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("token_failure_limit", "lots", "is not a rate limit"),
        ("ratelimit_storage_uri", "carrier-pigeon://user:secret@loft", "'carrier-pigeon'"),
    ],
)
def test_an_unusable_limit_or_storage_stops_the_app(
    make_app: Callable[..., Flask], setting: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        make_app(**{setting: value})
    assert "secret" not in str(raised.value)
