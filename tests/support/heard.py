"""What psycopg is asked to send, heard on its way (for the tests that count round trips)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest


def heard_first_arguments(
    monkeypatch: pytest.MonkeyPatch, owner: type[Any], method: str,
    as_text: Callable[[Any], Any] = str,
) -> list[Any]:  # fmt: skip
    """The first argument (as ``as_text`` makes it) of every call to ``owner.method`` while
    the test runs, in order; the calls go on as before."""
    heard: list[Any] = []
    original = getattr(owner, method)

    def hearing(self: Any, first: Any, *args: Any, **kwargs: Any) -> Any:
        heard.append(as_text(first))
        return original(self, first, *args, **kwargs)

    monkeypatch.setattr(owner, method, hearing)
    return heard


def client_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries psycopg binds on the client (simple queries: one message, one round trip
    each; the deferred writes' road and ``begin_with``'s)."""
    return heard_first_arguments(monkeypatch, psycopg.ClientCursor, "execute")


def own_commands(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The commands psycopg sends on its own (BEGIN, COMMIT), each its own round trip."""
    return heard_first_arguments(monkeypatch, psycopg.Connection, "_exec_command", bytes)
