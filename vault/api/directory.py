"""What the admins' directories (``/api/v1/users``, ``/api/v1/clients``) share: answers
never cached, and cursor pages over a stable order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from flask import Response

Row = TypeVar("Row")
Row_co = TypeVar("Row_co", covariant=True)


class Pages(Protocol[Row_co]):
    """A directory's rows in a stable order, those after the cursor ``after``, at most
    ``limit``."""

    def __call__(self, *, after: str | None, limit: int) -> Sequence[Row_co]: ...


def not_cached(response: Response) -> Response:
    """after_request: the answer names people or carries a token; no cache may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response


def page_of(
    rows: Sequence[Row], limit: int, cursor_of: Callable[[Row], str]
) -> tuple[Sequence[Row], str | None]:
    """The first ``limit`` of ``rows`` (fetched as ``limit + 1``, so that one more tells a
    next page exists) and the cursor of that next page, or None."""
    page = rows[:limit]
    return page, cursor_of(page[-1]) if len(rows) > limit else None


def page_answer(
    args: Mapping[str, Any],
    pages: Pages[Row],
    cursor_of: Callable[[Row], str],
    shown: Callable[[Row], dict[str, Any]],
) -> dict[str, Any]:
    """A list's answer, ``{"items", "next_cursor"}``, for the query ``args``
    (``ListQuerySchema``): the page after its cursor, each row ``shown``."""
    limit = args["limit"]
    page, next_cursor = page_of(pages(after=args.get("cursor"), limit=limit + 1), limit, cursor_of)
    return {"items": [shown(row) for row in page], "next_cursor": next_cursor}
