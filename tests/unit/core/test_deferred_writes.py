"""A write whose result nobody reads goes with the transaction's next round trip
(``vault.db_deferred.insert_soon``): with the COMMIT in one round trip, before any later
statement of its transaction, never after a rollback (of the transaction or of a savepoint
around it), and a failure is its writer's error with nothing committed. At the other end,
a transaction's BEGIN goes with its first statement (``begin_with``, the change stamps' read).
On the machine's PostgreSQL in both runs of the suite; SQLite sends it at once."""

from __future__ import annotations

import secrets
from collections.abc import Generator, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.support import heard
from vault.db import create_db_engine
from vault.db_deferred import insert_soon
from vault.db_timeouts import BoundedConnection
from vault.policies import versions


class Refused(Exception):
    """The writer's own error for a write the database refused."""


def refused(_error: Exception) -> Exception:
    return Refused("the probe could not be written")


@pytest.fixture
def engine(machine_postgres: Engine) -> Engine:
    return machine_postgres


@pytest.fixture
def probe(engine: Engine) -> Iterator[sa.Table]:
    """A table of the test database of its own (every connection sees it)."""
    table = sa.Table(
        f"probe_{secrets.token_hex(4)}", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("label", sa.String(20), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=True),
    )  # fmt: skip
    table.create(engine)
    yield table
    table.drop(engine)


def watched(gen: Generator[Any, Any, Any], waits: list[int]) -> Generator[Any, Any, Any]:
    """``gen`` (psycopg's work on the socket), noting in ``waits`` whether it had to wait for
    the server at all: a call that finds nothing to send (a commit with no transaction
    open) never does."""
    try:
        wanted = next(gen)
    except StopIteration as done:
        return done.value
    waits.append(1)
    while True:
        ready = yield wanted
        try:
            wanted = gen.send(ready)
        except StopIteration as done:
            return done.value


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per round trip to the server."""
    waits: list[int] = []
    wait = BoundedConnection.wait

    def counted(self: BoundedConnection, gen: Any, *args: Any, **kwargs: Any) -> Any:
        return wait(self, watched(gen, waits), *args, **kwargs)

    monkeypatch.setattr(BoundedConnection, "wait", counted)
    return waits


@pytest.fixture
def own_commands(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    return heard.own_commands(monkeypatch)


@pytest.fixture
def client_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return heard.client_queries(monkeypatch)


def labels(engine: Engine, table: sa.Table) -> list[str]:
    with engine.connect() as connection:  # another connection: only what was committed
        return list(connection.scalars(sa.select(table.c.label).order_by(table.c.id)))


def test_the_insert_goes_with_the_commit_in_one_round_trip(
    engine: Engine, probe: sa.Table, round_trips: list[int]
) -> None:
    with Session(engine) as session:
        session.execute(sa.select(sa.literal(1)))  # the transaction is open
        round_trips.clear()
        assert insert_soon(session, sa.insert(probe), {"label": "it's here", "raw": b"\0\xff'"},
                           refused)  # fmt: skip
        assert round_trips == []  # nothing sent yet
        session.commit()
        assert len(round_trips) == 1, "the INSERT and the COMMIT are one round trip"
    assert labels(engine, probe) == ["it's here"]  # quoted by the driver, as it was written
    with engine.connect() as connection:
        assert connection.scalar(sa.select(probe.c.raw)) == b"\0\xff'"


def test_several_waiting_inserts_go_with_the_commit_as_written(
    engine: Engine, probe: sa.Table, round_trips: list[int]
) -> None:
    awkward = ["100% sure", "back\\slash", "'); DROP TABLE x;--", "%(label)s", "ünïcode"]
    with Session(engine) as session:
        session.execute(sa.select(sa.literal(1)))
        round_trips.clear()
        for label in awkward:
            insert_soon(session, sa.insert(probe), {"label": label}, refused)
        session.commit()
        assert len(round_trips) == 1
    assert labels(engine, probe) == awkward
    with Session(engine) as session:  # and one alone, the usual case
        insert_soon(session, sa.insert(probe), {"label": awkward[2]}, refused)
        session.commit()
    assert labels(engine, probe) == [*awkward, awkward[2]]


def test_the_insert_is_sent_before_the_next_statement_of_its_transaction(
    engine: Engine, probe: sa.Table
) -> None:
    with Session(engine) as session:
        insert_soon(session, sa.insert(probe), {"label": "first"}, refused)
        assert session.scalars(sa.select(probe.c.label)).all() == ["first"]
        session.rollback()  # still the same transaction: sent, not committed
    assert labels(engine, probe) == []


def test_a_rollback_takes_the_waiting_insert_along(engine: Engine, probe: sa.Table) -> None:
    with Session(engine) as session:
        session.execute(sa.insert(probe).values(label="undone"))
        insert_soon(session, sa.insert(probe), {"label": "never"}, refused)
        session.rollback()
        session.execute(sa.insert(probe).values(label="later"))
        session.commit()
    assert labels(engine, probe) == ["later"]


def test_a_savepoint_rolled_back_after_it_takes_it_along(engine: Engine, probe: sa.Table) -> None:
    with Session(engine) as session:
        session.execute(sa.insert(probe).values(label="kept"))
        savepoint = session.begin_nested()
        insert_soon(session, sa.insert(probe), {"label": "inside"}, refused)
        savepoint.rollback()
        insert_soon(session, sa.insert(probe), {"label": "after"}, refused)
        session.commit()
    assert labels(engine, probe) == ["kept", "after"]


def test_a_refused_insert_is_its_writers_error_and_commits_nothing(
    engine: Engine, probe: sa.Table
) -> None:
    with Session(engine) as session:
        session.execute(sa.insert(probe).values(label="with it"))
        insert_soon(session, sa.insert(probe), {"label": "x" * 21}, refused)  # too long
        with pytest.raises(Refused):
            session.commit()
        session.rollback()
    assert labels(engine, probe) == []


def test_a_refused_insert_fails_the_next_statement_as_its_writers_error(
    engine: Engine, probe: sa.Table
) -> None:
    with Session(engine) as session:
        insert_soon(session, sa.insert(probe), {"label": "x" * 21}, refused)
        with pytest.raises(sa.exc.StatementError) as raised:
            session.execute(sa.select(probe.c.label))
        assert isinstance(raised.value.orig, Refused)
        session.rollback()
    assert labels(engine, probe) == []


def dbapi(session: Session) -> BoundedConnection:
    raw: Any = session.connection().connection.dbapi_connection
    assert isinstance(raw, BoundedConnection)
    return raw


def test_begin_with_opens_the_transaction_and_reads_in_one_round_trip(
    engine: Engine, probe: sa.Table, own_commands: list[bytes], client_queries: list[str]
) -> None:
    with Session(engine) as session:
        connection = dbapi(session)
        own_commands.clear()
        rows = connection.begin_with("SELECT 1, 'one' UNION ALL SELECT 2, 'two'")
        assert rows == [(1, "one"), (2, "two")]
        # one simple query, and no BEGIN of psycopg's own before it
        assert client_queries == ["BEGIN; SELECT 1, 'one' UNION ALL SELECT 2, 'two'"]
        assert own_commands == []
        assert connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        # the transaction is open: what follows is in it, and a rollback undoes it
        session.execute(sa.insert(probe).values(label="undone"))
        assert connection.begin_with("SELECT 1") is None  # a transaction is open: not sent
        assert len(client_queries) == 1
        session.rollback()
    assert labels(engine, probe) == []


def test_begin_with_keeps_the_isolation_level_psycopg_would_begin_with(
    machine_postgres: Engine,
) -> None:
    serializable = machine_postgres.execution_options(isolation_level="SERIALIZABLE")
    with Session(serializable) as session:
        rows = dbapi(session).begin_with("SHOW transaction_isolation")
        assert rows == [("serializable",)]


def test_a_statement_begun_with_that_fails_leaves_a_connection_that_rolls_back(
    engine: Engine, probe: sa.Table
) -> None:
    with Session(engine) as session:
        with pytest.raises(psycopg.errors.UndefinedTable):
            dbapi(session).begin_with("SELECT * FROM no_such_table")
        session.rollback()
        session.execute(sa.insert(probe).values(label="after"))
        session.commit()
    assert labels(engine, probe) == ["after"]


def test_the_change_stamps_are_read_with_the_begin(
    engine: Engine, own_commands: list[bytes], client_queries: list[str]
) -> None:
    with engine.connect() as connection:
        # this connection's own stamps (a temporary table: the machine's database is shared)
        connection.execute(sa.text(
            "CREATE TEMPORARY TABLE change_counters (name VARCHAR(64) PRIMARY KEY, version BIGINT)"
        ))  # fmt: skip
        connection.execute(sa.text("INSERT INTO change_counters VALUES ('policies', 41)"))
        connection.commit()
        with Session(bind=connection) as session:
            own_commands.clear()
            assert versions.current_all(session) == {"policies": 41}
            assert own_commands == [], "the transaction's BEGIN went with the stamps' SELECT"
            (query,) = client_queries
            assert query.startswith("BEGIN; SELECT change_counters.name")
            assert versions.current_all(session) == {"policies": 41}  # in the transaction
            assert len(client_queries) == 1  # the second read is an ordinary statement


def test_sqlite_sends_nothing_later(tmp_path: Any) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'vault.db'}")
    table = sa.Table("probe", sa.MetaData(), sa.Column("label", sa.String(20)))
    table.create(engine)
    with Session(engine) as session:
        assert insert_soon(session, sa.insert(table), {"label": "now"}, refused) is False
    engine.dispose()
