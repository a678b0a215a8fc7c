"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from tests.helpers import SAMPLE_FIELDS
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


def test_packing_values_keeps_every_value_readable(fresh_database_url: str, tmp_path: Path) -> None:
    """0004 moves values from one row per value into the packed column, and back down."""
    import datetime as dt

    from sqlalchemy.orm import Session

    from vault.crypto.envelope import KeyRing
    from vault.crypto.keys import FileKeyProvider
    from vault.customers.catalogue import load_catalogue, seed_catalogue
    from vault.customers.service import CustomerStore

    engine = create_db_engine(fresh_database_url)
    provider = FileKeyProvider.create(tmp_path / "master.key")
    now = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    try:
        upgrade(engine, "0003")
        with Session(engine) as session:
            seed_catalogue(session)  # the schema of 0003 has no policy table yet
            ring = KeyRing(provider)
            wrapped, cipher = ring.new_data_key("cus_" + "a" * 32)
            session.execute(
                sa.text(
                    "INSERT INTO customers (id, region, status, created_at, updated_at,"
                    " last_activity_at, wrapped_key, kek_version, dek_version)"
                    " VALUES (:id, 'EU', 'active', :now, :now, :now, :w, 1, 1)"
                ),
                {"id": "cus_" + "a" * 32, "now": now.replace(tzinfo=None), "w": wrapped.wrapped},
            )
            for name in ("given_name", "family_name", "job_title"):
                session.execute(
                    sa.text("INSERT INTO customer_values VALUES (:c, :f, :ct, :now)"),
                    {
                        "c": "cus_" + "a" * 32,
                        "f": name,
                        "ct": cipher.encrypt(name, SAMPLE_FIELDS[name].encode()),
                        "now": now.replace(tzinfo=None),
                    },
                )
            session.commit()

        def read() -> dict[str, str]:
            with Session(engine) as session:
                store = CustomerStore(session, KeyRing(provider), load_catalogue(session), now=now)
                return store.read_one("cus_" + "a" * 32, list(SAMPLE_FIELDS)).values

        upgrade(engine)
        expected = {n: SAMPLE_FIELDS[n] for n in ("given_name", "family_name", "job_title")}
        assert read() == expected
        downgrade(engine, "0003")
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM customer_values")) == 3
        upgrade(engine)
        assert read() == expected
    finally:
        engine.dispose()


def test_the_event_mac_migration_keeps_the_audit_trails_customer_links(
    fresh_database_url: str,
) -> None:
    """0010 adds and drops a column of audit_events in place: rebuilding the table would
    cascade-delete its customer links on SQLite."""
    engine = create_db_engine(fresh_database_url)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO audit_events (id, occurred_at, actor_kind, actor_id, purpose, action,"
                " customer_ids, field_names, outcome, reason, request_id, client_address)"
                " VALUES (1, '2026-01-01 00:00:00', 'system', 'vault', '', 'customer.read',"
                " 'cus_1', '', 'allowed', '', '', '')"
            ))  # fmt: skip
            connection.execute(sa.text(
                "INSERT INTO audit_event_customers (event_id, customer_id) VALUES (1, 'cus_1')"
            ))  # fmt: skip
        steps: list[Callable[[], object]] = [
            lambda: downgrade(engine, "0009"),
            lambda: upgrade(engine),
        ]
        for step in steps:
            step()
            with engine.connect() as connection:
                links = connection.execute(sa.text("SELECT count(*) FROM audit_event_customers"))
                assert links.scalar() == 1
    finally:
        engine.dispose()


def test_the_event_audience_moves_into_the_events_row_and_back(fresh_database_url: str) -> None:
    """0014 moves an event's audience from event_audience into the event's row, and back
    down."""
    engine = create_db_engine(fresh_database_url)
    try:
        upgrade(engine, "0013")
        with engine.begin() as connection:
            for seq in (1, 2):
                connection.execute(sa.text(
                    "INSERT INTO events (seq, id, type, occurred_at, customer_id, fields, data)"
                    " VALUES (:seq, :id, 'consent.changed', '2026-01-01 00:00:00', 'cus_1',"
                    " '', '{}')"
                ), {"seq": seq, "id": f"evt_{seq}"})  # fmt: skip
            connection.execute(sa.text(
                "INSERT INTO event_audience (event_seq, purpose)"
                " VALUES (1, 'newsletter'), (1, 'marketing')"
            ))  # fmt: skip
        upgrade(engine)
        with engine.connect() as connection:
            audiences: dict[int, str] = dict(
                connection.execute(sa.text("SELECT seq, audience FROM events")).all()
            )
        assert audiences == {1: ",marketing,newsletter,", 2: ","}
        downgrade(engine, "0013")
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT event_seq, purpose FROM event_audience ORDER BY purpose"
            )).all()  # fmt: skip
            assert [tuple(r) for r in rows] == [(1, "marketing"), (1, "newsletter")]
            assert connection.execute(sa.text("SELECT count(*) FROM events")).scalar() == 2
    finally:
        engine.dispose()
