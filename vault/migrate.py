"""Alembic, driven from the vault's own settings: upgrade, downgrade, current revision, and a
check that the models and the migrations agree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from vault.db import normalise_url
from vault.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _migrate(
    step: Callable[[Config, str], None], engine: Engine, revision: str
) -> tuple[str | None, str | None]:
    before = current_revision(engine)
    with engine.begin() as conn:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        step(cfg, revision)
    return before, current_revision(engine)


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate up to ``revision``; returns (revision before, revision after)."""
    return _migrate(command.upgrade, engine, revision)


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Migrate down to ``revision`` (``base``: no tables); returns (before, after)."""
    return _migrate(command.downgrade, engine, revision)


def schema_differences(engine: Engine) -> list[Any]:
    """What autogenerate would change: empty when the models and the database agree."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))
