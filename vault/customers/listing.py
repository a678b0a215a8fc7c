"""A page of customer ids, oldest first, with a signed cursor to the next page."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.crypto.cursors import CursorSigner
from vault.customers.models import Customer
from vault.db import UTCDateTime, after_position
from vault.errors import ValidationFailed

MAX_PAGE = 500
LISTING = "customers"  # what the list's cursors are bound to
_RAW_CREATED = sa.type_coerce(Customer.created_at, sa.String())


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    ids: list[str]
    next_cursor: str | None


_Query = TypeVar("_Query", bound="sa.Select[*tuple[Any, ...]]")


def narrowed(
    query: _Query, regions: Collection[str] | None, only: sa.ColumnElement[bool] | None
) -> _Query:
    """``query`` of customers kept to ``regions`` (when given) and the extra row filter
    ``only`` (consent, grants) of an access plan: the visibility every read applies."""
    if regions is not None:
        query = query.where(Customer.region.in_(sorted(regions)))
    return query if only is None else query.where(only)


def _utc(value: Any) -> dt.datetime:
    """A timestamp as the driver returned it (text on SQLite), as ``UTCDateTime`` reads it."""
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    aware: dt.datetime | None = UTCDateTime().process_result_value(parsed, None)
    assert aware is not None
    return aware


def page_query(
    columns: Sequence[Any], cursors: CursorSigner, *, limit: int = 50, cursor: str | None = None,
    regions: Collection[str] | None = None, only: sa.ColumnElement[bool] | None = None,
) -> sa.Select[Any]:  # fmt: skip
    """``columns`` of the active customers after ``cursor``, oldest first, ``limit`` and one
    more (which tells whether there is a next page), each row with its creation time as the
    database holds it (``raw_created``); ``only`` is an extra row filter (consent, grants)
    from the access plan. Raises ``ValidationFailed`` for a ``limit`` out of range or a
    ``cursor`` this signer did not give out."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(errors={"limit": [f"must be between 1 and {MAX_PAGE}"]})
    # created_at comes raw: only the last row's is needed (for the cursor), so the other
    # rows are not converted into datetimes (measured: a third of a page listing).
    query = sa.select(*columns, _RAW_CREATED.label("raw_created"))
    query = narrowed(query.where(Customer.status == "active"), regions, only)
    if cursor:
        created, last_id = cursors.decode(LISTING, cursor)
        query = query.where(after_position(Customer.created_at, Customer.id, created, last_id))
    return query.order_by(Customer.created_at, Customer.id).limit(limit + 1)


def next_page(
    cursors: CursorSigner, rows: Sequence[Any], limit: int
) -> tuple[list[Any], str | None]:
    """The rows of a ``page_query`` within ``limit``, and the cursor of the next page (None
    when this one is the last)."""
    more = len(rows) > limit
    kept = list(rows[:limit])
    next_cursor = cursors.encode(LISTING, _utc(kept[-1].raw_created), kept[-1].id) if more else None
    return kept, next_cursor


def list_page(
    session: Session,
    cursors: CursorSigner,
    *,
    limit: int = 50,
    cursor: str | None = None,
    regions: Collection[str] | None = None,
    only: sa.ColumnElement[bool] | None = None,
) -> Page:
    """Active customer ids, oldest first, ``limit`` at a time (``page_query``)."""
    query = page_query((Customer.id,), cursors, limit=limit, cursor=cursor, regions=regions,
                       only=only)  # fmt: skip
    rows, next_cursor = next_page(cursors, session.connection().execute(query).all(), limit)
    return Page([r.id for r in rows], next_cursor)
