"""Fixtures of the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.helpers import POSTGRES_URL
from vault.db import create_db_engine
from vault.db_timeouts import PostgresTimeouts


@pytest.fixture
def machine_postgres() -> Iterator[Engine]:
    """An engine on the machine's PostgreSQL, in both runs of the suite (a missing server is
    a failure), as the vault opens its own (bounded waits, pinged after idling)."""
    engine = create_db_engine(POSTGRES_URL, timeouts=PostgresTimeouts(connect_seconds=3))
    yield engine
    engine.dispose()
