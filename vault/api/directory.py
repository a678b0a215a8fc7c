"""What the admins' directories (``/api/v1/users``, ``/api/v1/clients``) share: answers
never cached, and cursor pages over a stable order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from flask import Response

Row = TypeVar("Row")


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
