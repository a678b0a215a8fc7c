"""The process's table of bearer tokens' principals (vault.auth.token_cache): what it keeps,
and what still reaches the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from vault.auth.models import ApiClient
from vault.auth.service import TokenRefused
from vault.auth.token_cache import TokenPrincipals
from vault.clock import FixedClock
from vault.db import db

STAMPS = (1, 1)


def _statements(app: Flask) -> list[str]:
    """The reads and writes sent from now on (not the test's savepoints)."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.split(None, 1)[0] in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
            seen.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", note)
    return seen


def test_a_known_token_is_answered_without_reading_its_client_again(
    app: Flask, make_token: Callable[..., str], clock: FixedClock
) -> None:
    token = make_token(role="support", name="desk")
    table = TokenPrincipals()
    with app.app_context():
        first = table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        seen = _statements(app)
        again = table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
    assert again == first
    assert first.id.startswith("cli_")
    assert first.roles == frozenset({"support"})
    assert first.purposes == frozenset({"support"})
    assert seen == []  # nothing read, and the last use was written a moment ago


def test_other_stamps_read_the_client_again(
    app: Flask, make_token: Callable[..., str], clock: FixedClock
) -> None:
    token = make_token()
    table = TokenPrincipals()
    with app.app_context():
        table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        seen = _statements(app)
        table.principal(db.session, token, now=clock.now(), stamps=(1, 2))
    assert any("FROM api_clients" in statement for statement in seen)


def test_a_revoked_token_met_under_new_stamps_is_refused(
    app: Flask, make_token: Callable[..., str], clock: FixedClock
) -> None:
    token = make_token()
    table = TokenPrincipals()
    with app.app_context():
        principal = table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        db.session.get_one(ApiClient, principal.id).revoked_at = clock.now()
        db.session.flush()
        with pytest.raises(TokenRefused) as refused:
            table.principal(db.session, token, now=clock.now(), stamps=(2, 1))
    assert refused.value.reason == "revoked"


def test_a_kept_token_expires_on_time(
    app: Flask, make_token: Callable[..., str], clock: FixedClock
) -> None:
    token = make_token(expires_days=1)
    table = TokenPrincipals()
    with app.app_context():
        table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        clock.advance(days=1)
        with pytest.raises(TokenRefused) as refused:
            table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        assert refused.value.reason == "expired"
        with pytest.raises(TokenRefused):  # dropped, and refused again from the database
            table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
    assert len(table) == 0


def test_a_wrong_secret_for_a_known_key_id_is_refused(
    app: Flask, make_token: Callable[..., str], clock: FixedClock
) -> None:
    token = make_token()
    table = TokenPrincipals()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with app.app_context():
        table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        with pytest.raises(TokenRefused) as refused:
            table.principal(db.session, forged, now=clock.now(), stamps=STAMPS)
    assert refused.value.reason == "unknown"


def test_the_last_use_is_written_once_a_minute(
    app: Flask, make_token: Callable[..., str], clock: FixedClock
) -> None:
    token = make_token()
    table = TokenPrincipals()
    with app.app_context():
        principal = table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        seen = _statements(app)
        clock.advance(seconds=30)
        table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        assert seen == []
        clock.advance(seconds=31)
        table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        assert [s for s in seen if s.startswith("UPDATE api_clients")]
        used = db.session.scalar(
            sa.select(ApiClient.last_used_at).where(ApiClient.id == principal.id)
        )
    assert used == clock.now()


def test_the_table_keeps_the_most_recently_used_tokens(
    app: Flask, make_token: Callable[..., str], clock: FixedClock
) -> None:
    tokens = [make_token(name=f"system-{i}") for i in range(3)]
    table = TokenPrincipals(size=2)
    with app.app_context():
        for token in tokens:
            table.principal(db.session, token, now=clock.now(), stamps=STAMPS)
        assert len(table) == 2
        seen = _statements(app)
        table.principal(db.session, tokens[2], now=clock.now(), stamps=STAMPS)
        assert seen == []
        table.principal(db.session, tokens[0], now=clock.now(), stamps=STAMPS)
        assert any("FROM api_clients" in statement for statement in seen)
