"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import sqlalchemy as sa

from vault.db import create_db_engine
from vault.migrate import current_revision, downgrade, head_revision, schema_differences, upgrade
from vault.models import Base


def test_models_and_migrations_agree(migrated_database_url: str) -> None:
    engine = create_db_engine(migrated_database_url)
    try:
        assert schema_differences(engine) == []
        assert current_revision(engine) == head_revision(migrated_database_url)
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_database_url: str) -> None:
    engine = create_db_engine(fresh_database_url)
    try:
        assert upgrade(engine) == (None, head_revision(fresh_database_url))
        tables = set(sa.inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        downgrade(engine, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(engine) is None
        upgrade(engine)
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_the_naming_convention_names_constraints(migrated_database_url: str) -> None:
    engine = create_db_engine(migrated_database_url)
    try:
        inspector = sa.inspect(engine)
        assert inspector.get_pk_constraint("users")["name"] == "pk_users"
        fks = {fk["name"] for fk in inspector.get_foreign_keys("api_clients")}
        assert fks == {"fk_api_clients_role_name_roles"}
    finally:
        engine.dispose()
