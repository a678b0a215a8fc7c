"""A prebuilt SELECT whose rows are read on the driver's own cursor.

SQLAlchemy's execution of a statement (its execution context, its cursor events, its result
and its rows) cost twice what the driver's own execution and fetch cost for the read of one
customer: 260,000 instructions against 150,000. A ``DriverSelect`` compiles its statement
once per dialect, binds the parameters as SQLAlchemy would (the statement's own values
included), executes it on the connection's DBAPI cursor, and converts each column as
SQLAlchemy's result would (each type's result processor, given the cursor's type code).
SQLAlchemy's cursor events are dispatched around it, so that whoever listens (the outage
log, a test counting statements) hears the statement as it hears any other; a listener
cannot rewrite it here.

Statements it cannot run so (an expanding ``IN`` list, a value rendered at execution) are
refused when built.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

Processor = Callable[[Any], Any]


class _Compiled:
    """The statement on one dialect: its text, how its parameters are bound and in what
    order, and (from the first execution's cursor) how each column is converted."""

    def __init__(self, statement: sa.Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql or any(b.expanding for b in compiled.binds.values()):
            raise ValueError(
                "a statement with values rendered at execution runs through SQLAlchemy"
            )
        self.compiled = compiled
        self.order = compiled.positiontup if compiled.positional else None
        self.binders: dict[str, Processor] = {}
        for name, bind in compiled.binds.items():
            binder = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if binder is not None:
                self.binders[name] = binder
        self.types = [c.type.dialect_impl(dialect) for c in statement.selected_columns]
        self.converters: list[Processor | None] | None = None
        self.dialect = dialect

    def parameters(self, params: Mapping[str, Any]) -> Any:
        values = self.compiled.construct_params(dict(params))
        for name, binder in self.binders.items():
            values[name] = binder(values[name])
        if self.order is not None:
            return tuple(values[name] for name in self.order)
        return values

    def converted(self, description: Any) -> list[Processor | None]:
        if self.converters is None:
            self.converters = [
                kind.result_processor(self.dialect, column[1])
                for kind, column in zip(self.types, description, strict=True)
            ]
        return self.converters


class DriverSelect:
    """``statement`` (a SELECT built once), executed on the driver's cursor."""

    def __init__(self, statement: sa.Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        names = [str(column.key) for column in statement.selected_columns]
        self.row: Any = namedtuple("Row", names, rename=True)  # type: ignore[misc]
        self._by_dialect: dict[str, _Compiled] = {}

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """The rows of the statement with ``params`` in ``connection``'s transaction, as
        named tuples of the statement's columns, converted as SQLAlchemy converts them."""
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _Compiled(self.statement, dialect)
        parameters = compiled.parameters(params)
        cursor = connection.connection.cursor()
        try:
            dispatch = connection.dispatch
            dispatch.before_cursor_execute(connection, cursor, compiled.sql, parameters, None,
                                           False)  # fmt: skip
            cursor.execute(compiled.sql, parameters)
            dispatch.after_cursor_execute(connection, cursor, compiled.sql, parameters, None,
                                          False)  # fmt: skip
            fetched = cursor.fetchall()
            converters = compiled.converted(cursor.description)
        finally:
            cursor.close()
        make = self.row._make
        if not any(converters):
            return [make(values) for values in fetched]
        return [
            make([value if convert is None else convert(value)
                  for convert, value in zip(converters, values, strict=True)])
            for values in fetched
        ]  # fmt: skip
