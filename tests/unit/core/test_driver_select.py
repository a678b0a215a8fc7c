"""A prebuilt SELECT read on the driver's cursor (``vault.db_rows``) gives the rows
SQLAlchemy's execution gives, value for value and type for type, on either database, and is
heard by SQLAlchemy's cursor events like any statement."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.helpers import SAMPLE_FIELDS
from vault.customers import reads
from vault.customers.index_rows import Holders
from vault.customers.models import Customer
from vault.customers.service import CustomerStore
from vault.db_rows import DriverSelect

READS = {
    "one": (reads.READ_ONE, "id"),
    "one with times": (reads.READ_ONE_WITH_TIMES, "id"),
    "held": (reads.READ_HELD, "held"),
    "held with times": (reads.READ_HELD_WITH_TIMES, "held"),
}


def _typed(row: Any) -> list[tuple[type, Any]]:
    return [(type(value), value) for value in row]


@pytest.mark.parametrize("name", list(READS))
def test_the_rows_are_sqlalchemys(store: CustomerStore, name: str) -> None:
    statement, how = READS[name]
    customer_id = store.create(SAMPLE_FIELDS, region="EU")
    ended = (store.now - dt.timedelta(days=1)).astimezone(dt.UTC).replace(microsecond=123456)
    store.end_relationship(customer_id, ended)
    if how == "id":
        params: dict[str, Any] = {"id": customer_id}
    else:
        params = Holders("email", store._search_digest("email", SAMPLE_FIELDS["email"])).params()
    connection = store.session.connection()
    theirs = connection.execute(statement, params).all()
    ours = DriverSelect(statement).rows(connection, params)
    assert len(theirs) == len(ours) == 1
    assert [_typed(row) for row in ours] == [_typed(row) for row in theirs]
    assert ours[0].id == customer_id
    assert ours[0].relationship_ended_at == ended
    assert ours[0].relationship_ended_at.tzinfo == dt.UTC
    assert ours[0]._fields == tuple(theirs[0]._fields)


def test_no_row_is_no_row(store: CustomerStore) -> None:
    connection = store.session.connection()
    assert DriverSelect(reads.READ_ONE).rows(connection, {"id": "cus_none"}) == []


def test_the_statement_is_heard_as_any_other(store: CustomerStore) -> None:
    customer_id = store.create(SAMPLE_FIELDS, region="EU")
    connection = store.session.connection()
    heard: list[tuple[str, str]] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        heard.append(("before", statement))

    def after(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        heard.append(("after", statement))

    engine = connection.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        store.read([customer_id], ["email"])
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    reads = [(when, sql) for when, sql in heard if "FROM customers" in sql]
    assert [when for when, _ in reads] == ["before", "after"]


def test_a_statement_with_values_rendered_at_execution_is_refused(
    store: CustomerStore,
) -> None:
    expanding = sa.select(Customer.id).where(Customer.id.in_(sa.bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="SQLAlchemy"):
        DriverSelect(expanding).rows(store.session.connection(), {"ids": ["a"]})
