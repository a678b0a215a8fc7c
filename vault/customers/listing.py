"""A page of customer ids, oldest first, with a signed cursor to the next page."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from typing import Any

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


def _utc(value: Any) -> dt.datetime:
    """A timestamp as the driver returned it (text on SQLite), as ``UTCDateTime`` reads it."""
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    aware: dt.datetime | None = UTCDateTime().process_result_value(parsed, None)
    assert aware is not None
    return aware


def list_page(
    session: Session,
    cursors: CursorSigner,
    *,
    limit: int = 50,
    cursor: str | None = None,
    regions: Collection[str] | None = None,
    only: sa.ColumnElement[bool] | None = None,
) -> Page:
    """Active customer ids, oldest first, ``limit`` at a time; ``only`` is an extra row
    filter (consent, grants) from the access plan. Raises ``ValidationFailed`` for a
    ``limit`` out of range or a ``cursor`` this store's signer did not give out."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(errors={"limit": [f"must be between 1 and {MAX_PAGE}"]})
    # created_at comes raw: only the last row's is needed (for the cursor), so the other
    # rows are not converted into datetimes (measured: a third of a page listing).
    query = sa.select(Customer.id, _RAW_CREATED).where(Customer.status == "active")
    if regions is not None:
        query = query.where(Customer.region.in_(sorted(regions)))
    if only is not None:
        query = query.where(only)
    if cursor:
        created, last_id = cursors.decode(LISTING, cursor)
        query = query.where(after_position(Customer.created_at, Customer.id, created, last_id))
    rows = (
        session.connection()
        .execute(query.order_by(Customer.created_at, Customer.id).limit(limit + 1))
        .all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode(LISTING, _utc(rows[-1][1]), rows[-1][0]) if more else None
    return Page([r[0] for r in rows], next_cursor)
