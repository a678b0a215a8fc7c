"""The pool pings a PostgreSQL connection before lending it only after it lay idle
(vault.db_timeouts.bound_waits): a connection back from a request a moment ago is lent at
once, and one whose server process is gone is discarded and replaced, unseen by the caller.
On the machine's PostgreSQL in both runs of the suite (a missing server is a failure)."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.helpers import POSTGRES_URL
from vault import db_timeouts


@pytest.fixture
def engine(machine_postgres: Engine) -> Engine:
    return machine_postgres


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per ping the pool sends."""
    sent: list[int] = []
    ping = engine.dialect.do_ping

    def counted(connection: Any) -> bool:
        sent.append(1)
        return ping(connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        pid: int = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        return pid


def test_a_connection_back_a_moment_ago_is_lent_without_a_ping(
    engine: Engine, pings: list[int]
) -> None:
    first = _backend(engine)
    assert [_backend(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_an_idle_connection_whose_server_process_is_gone_is_replaced(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    assert pings == []
    with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [first])
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [first]).fetchone():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    monkeypatch.setattr(db_timeouts, "PING_AFTER_IDLE_SECONDS", 0.0)  # idle long enough
    second = _backend(engine)  # no error reaches the caller
    assert second != first
    assert pings == [1]
