"""Writes sent with the transaction's next round trip: on PostgreSQL, an INSERT whose result
nobody reads (an audit event) waits on the connection until the transaction sends anything
else, and goes with it; sent with the COMMIT, the two are one round trip instead of two.

The database sees exactly what it would have seen had the INSERT been sent at once: it
is sent before any later statement of its transaction (so nothing can read around it, and a
savepoint rolled back after it takes it along), with the commit, or never, when the
transaction rolls back. Only its failure comes later: at that next statement or at the
commit, as the exception its writer chose, and the transaction then commits nothing.

The INSERT and the COMMIT go as one simple query; psycopg binds the INSERT's values on the
client (``ClientCursor``, with its own quoting), since a simple query takes no parameters.

The other end of a transaction saves its round trip the same way: psycopg sends BEGIN on
its own and waits for it before a transaction's first statement; ``begin_with`` sends that
BEGIN (the very text psycopg would send, with its isolation level) and a first statement
without parameters as one simple query (every request's read of the change stamps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy.orm import Session

WriteFailed = Callable[[psycopg.Error], Exception]


@dataclasses.dataclass(frozen=True, slots=True)
class _Deferred:
    sql: str
    params: Mapping[str, Any]
    failed: WriteFailed
    table: str = ""  # the table it writes to


class DeferredWrites(psycopg.Connection[Any]):
    """A psycopg connection that can hold writes until the transaction's next round trip
    (``defer``)."""

    _deferred: list[_Deferred] | None = None
    _begun_by_us = False

    def defer(self, sql: str, params: Mapping[str, Any], failed: WriteFailed,
              table: str = "") -> None:  # fmt: skip
        """Send ``sql`` (pyformat placeholders) with ``params`` (a write to ``table``) before
        the transaction's next statement or with its commit; if it fails, ``failed(error)``
        is raised there."""
        if self._deferred is None:
            self._deferred = []
        self._deferred.append(_Deferred(sql, params, failed, table))

    @property
    def deferred(self) -> int:
        """How many writes wait to be sent."""
        return len(self._deferred or ())

    def _send_deferred(self, *, then: str = "") -> None:
        waiting, self._deferred = self._deferred or [], None
        cursor = psycopg.ClientCursor(self)
        try:
            if len(waiting) == 1:
                # The usual one (a request's audit event): its text and ``then`` go as one
                # text, the same each time, whose values psycopg binds as it executes it.
                (write,) = waiting
                text = f"{write.sql}; {then}" if then else write.sql
                cursor.execute(text, write.params, prepare=False)
            else:
                text = "; ".join(cursor.mogrify(w.sql, w.params) for w in waiting)
                cursor.execute(f"{text}; {then}" if then else text, prepare=False)
        except psycopg.Error as exc:
            raise _failed_write(waiting, exc).failed(exc) from exc
        finally:
            cursor.close()

    def begin_with(self, sql: str) -> list[tuple[Any, ...]] | None:
        """Open the transaction with ``sql`` (one statement without parameters) and return
        its rows: the BEGIN and ``sql`` go as one simple query, one round trip. None, and
        nothing sent, when a transaction is open already or the connection autocommits."""
        if self.autocommit or self.pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return None
        begin = self._get_tx_start_command().decode()
        cursor = psycopg.ClientCursor(self)
        self._begun_by_us = True
        try:
            cursor.execute(f"{begin}; {sql}", prepare=False)
            cursor.nextset()  # past the BEGIN's result, to the statement's rows
            return cursor.fetchall()
        finally:
            self._begun_by_us = False
            cursor.close()

    def _start_query(self) -> Any:
        if self._begun_by_us:  # the query carries its own BEGIN
            return iter(())
        return super()._start_query()

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        if self._deferred:
            self._send_deferred()
        return super().cursor(*args, **kwargs)

    def commit(self) -> None:
        if self._deferred:
            # One round trip; the commit below then finds no transaction open and sends
            # nothing. Had the INSERT failed, the COMMIT would not have run.
            self._send_deferred(then="COMMIT")
        super().commit()

    def rollback(self) -> None:
        self._deferred = None
        super().rollback()

    def close(self) -> None:
        self._deferred = None
        super().close()


def _failed_write(waiting: list[_Deferred], error: psycopg.Error) -> _Deferred:
    """Which of the writes sent together failed: the server stops at the first statement
    that fails but does not say which it was, so the one whose table the error names (a
    constraint's table, or a relation in the message), else the first."""
    named = error.diag.table_name or ""
    message = error.diag.message_primary or ""
    for write in waiting:
        if write.table and (write.table == named or f'"{write.table}"' in message):
            return write
    return waiting[0]


class _DeferrableInsert:
    """An INSERT's SQL on one dialect, and how its values are bound (compiled once)."""

    def __init__(self, statement: sa.Insert, keys: tuple[str, ...], dialect: Any) -> None:
        table = statement.table
        self.sql = str(statement.inline().compile(dialect=dialect, column_keys=list(keys)))
        processors = {k: table.c[k].type.bind_processor(dialect) for k in keys}
        self.processors = {k: p for k, p in processors.items() if p is not None}

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: (p(v) if (p := self.processors.get(k)) else v)
                for k, v in values.items()}  # fmt: skip


_DEFERRABLE: dict[tuple[int, str, tuple[str, ...]], tuple[sa.Insert, _DeferrableInsert]] = {}


class _DeferrableStatement:
    """A statement with named parameters (an INSERT ... SELECT, an UPDATE) on one dialect."""

    def __init__(self, statement: sa.Insert | sa.Update, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.names = frozenset(compiled.binds)
        processors = {n: b.type.bind_processor(dialect) for n, b in compiled.binds.items()}
        self.processors = {n: p for n, p in processors.items() if p is not None}

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        if set(values) != self.names:
            raise ValueError(f"the statement takes {sorted(self.names)}, not {sorted(values)}")
        return {k: (p(v) if (p := self.processors.get(k)) else v)
                for k, v in values.items()}  # fmt: skip


_STATEMENTS: dict[tuple[int, str], tuple[sa.Insert | sa.Update, _DeferrableStatement]] = {}


def write_soon(
    session: Session, statement: sa.Insert | sa.Update, values: Mapping[str, Any],
    failed: Callable[[Exception], Exception],
) -> bool:  # fmt: skip
    """As ``insert_soon``, for a write whose every parameter is named in ``values`` (an
    INSERT ... SELECT or an UPDATE, built once): sent with the transaction's next round trip on
    PostgreSQL; False, having sent nothing, where writes cannot wait."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    if not isinstance(driver, DeferredWrites):
        return False
    key = (id(statement), connection.dialect.name)
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = (statement, _DeferrableStatement(statement, connection.dialect))
    table = statement.table.name if isinstance(statement.table, sa.TableClause) else ""
    driver.defer(found[1].sql, found[1].params(values), failed, table)
    return True


def insert_soon(
    session: Session, statement: sa.Insert, values: dict[str, Any],
    failed: Callable[[Exception], Exception],
) -> bool:  # fmt: skip
    """Write the row ``values`` with ``statement`` (an INSERT whose result nobody reads) in
    the session's transaction: on PostgreSQL with the transaction's next round trip (its
    next statement or its COMMIT, ``DeferredWrites``), where a failure raises
    ``failed(error)``; returns False, having sent nothing, where writes cannot wait (SQLite,
    whose statements cost no round trip): the caller then executes it."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    if not isinstance(driver, DeferredWrites):
        return False
    keys = tuple(values)
    key = (id(statement), connection.dialect.name, keys)
    found = _DEFERRABLE.get(key)
    if found is None:  # (the statement is kept with it, so that its id stays its own)
        found = _DEFERRABLE[key] = (statement, _DeferrableInsert(statement, keys,
                                                                 connection.dialect))  # fmt: skip
    insert = found[1]
    driver.defer(insert.sql, insert.params(values), failed, statement.table.name)
    return True
