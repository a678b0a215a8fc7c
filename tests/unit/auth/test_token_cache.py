"""The process's table of bearer tokens' principals (vault.auth.token_cache): what it keeps,
and what still reaches the database."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from vault.auth.models import ApiClient
from vault.auth.principal import Principal
from vault.auth.service import TokenRefused
from vault.auth.token_cache import TokenPrincipals
from vault.clock import FixedClock
from vault.db import db

STAMPS = (1, 1)


@dataclasses.dataclass
class Ask:
    """Asks ``table`` for a token's principal now, in the current app's session."""

    table: TokenPrincipals
    clock: FixedClock

    def __call__(self, token: str, stamps: tuple[int, int] = STAMPS) -> Principal:
        return self.table.principal(db.session, token, now=self.clock.now(), stamps=stamps)

    def refused(self, token: str, stamps: tuple[int, int] = STAMPS) -> str:
        """The reason ``token`` is refused (it must be)."""
        with pytest.raises(TokenRefused) as refusal:
            self(token, stamps)
        return refusal.value.reason


@pytest.fixture
def ask(clock: FixedClock) -> Ask:
    return Ask(TokenPrincipals(), clock)


def _statements(app: Flask) -> list[str]:
    """The reads and writes sent from now on (not the test's savepoints)."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.split(None, 1)[0] in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
            seen.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", note)
    return seen


def _read_clients(seen: list[str]) -> bool:
    return any("FROM api_clients" in statement for statement in seen)


def test_a_known_token_is_answered_without_reading_its_client_again(
    app: Flask, make_token: Callable[..., str], ask: Ask
) -> None:
    token = make_token(role="support", name="desk")
    with app.app_context():
        first = ask(token)
        seen = _statements(app)
        assert ask(token) == first
    assert first.id.startswith("cli_")
    assert first.roles == frozenset({"support"})
    assert first.purposes == frozenset({"support"})
    assert seen == []  # nothing read, and the last use was written a moment ago


def test_other_stamps_read_the_client_again(
    app: Flask, make_token: Callable[..., str], ask: Ask
) -> None:
    token = make_token()
    with app.app_context():
        ask(token)
        seen = _statements(app)
        ask(token, stamps=(1, 2))
    assert _read_clients(seen)


def test_a_revoked_token_met_under_new_stamps_is_refused(
    app: Flask, make_token: Callable[..., str], ask: Ask, clock: FixedClock
) -> None:
    token = make_token()
    with app.app_context():
        db.session.get_one(ApiClient, ask(token).id).revoked_at = clock.now()
        db.session.flush()
        assert ask.refused(token, stamps=(2, 1)) == "revoked"


def test_a_kept_token_expires_on_time(
    app: Flask, make_token: Callable[..., str], ask: Ask, clock: FixedClock
) -> None:
    token = make_token(expires_days=1)
    with app.app_context():
        ask(token)
        clock.advance(days=1)
        assert ask.refused(token) == "expired"
        assert len(ask.table) == 0
        assert ask.refused(token) == "expired"  # now from the database


def test_a_wrong_secret_for_a_known_key_id_is_refused(
    app: Flask, make_token: Callable[..., str], ask: Ask
) -> None:
    token = make_token()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with app.app_context():
        ask(token)
        assert ask.refused(forged) == "unknown"


def test_the_last_use_is_written_once_a_minute(
    app: Flask, make_token: Callable[..., str], ask: Ask, clock: FixedClock
) -> None:
    token = make_token()
    with app.app_context():
        client_id = ask(token).id
        seen = _statements(app)
        clock.advance(seconds=30)
        ask(token)
        assert seen == []
        clock.advance(seconds=31)
        ask(token)
        assert [s for s in seen if s.startswith("UPDATE api_clients")]
        used = db.session.scalar(sa.select(ApiClient.last_used_at).where(ApiClient.id == client_id))
    assert used == clock.now()


def test_the_table_keeps_the_most_recently_used_tokens(
    app: Flask, make_token: Callable[..., str], clock: FixedClock
) -> None:
    tokens = [make_token(name=f"system-{i}") for i in range(3)]
    ask = Ask(TokenPrincipals(size=2), clock)
    with app.app_context():
        for token in tokens:
            ask(token)
        assert len(ask.table) == 2
        seen = _statements(app)
        ask(tokens[2])
        assert seen == []
        ask(tokens[0])
        assert _read_clients(seen)
