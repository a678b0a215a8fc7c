"""The audit log is complete: a genesis head from `vault init`, every head anchored outside
the database (a file, or a database of its own written by an insert-only role), so that a
missing or older head, a restored copy of the database or an edited anchor is detected."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session

from tests.helpers import DATABASE_KIND, POSTGRES_URL, problem_after, write_events
from vault import runtime
from vault.audit.anchor import DatabaseAnchor, FileAnchor
from vault.audit.chain import head_mac
from vault.audit.integrity import AuditLog
from vault.audit.models import AuditEvent, AuditEventCustomer, AuditHead, AuditSeal
from vault.bootstrap import prepare_database
from vault.cli import main
from vault.clock import FixedClock
from vault.db import db

# --- the head and the anchor -----------------------------------------------------------


def test_vault_init_writes_a_genesis_head_and_anchors_it(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = {"VAULT_DATABASE_URL": fresh_database_url, "VAULT_INSTANCE_PATH": str(tmp_path / "i")}
    runner = CliRunner(env=env)
    first = runner.invoke(main, ["init"], catch_exceptions=False)
    assert "wrote the audit log's genesis head" in first.stdout
    anchor_file = tmp_path / "i" / "audit-anchor.log"
    assert anchor_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(anchor_file.read_text())["seal"] == 0
    assert "Nothing changed" in runner.invoke(main, ["init"]).stdout
    fresh = runner.invoke(main, ["audit", "verify"])
    assert fresh.exit_code == 0, fresh.output
    assert "0 events in 0 seals verified against the anchor file" in fresh.stdout


def test_a_log_without_its_head_is_never_intact(vault: tuple[Session, AuditLog]) -> None:
    session, log = vault
    assert problem_after(session, log, lambda: session.execute(sa.delete(AuditHead))) == (
        "the audit head is missing"
    )

    def everything() -> None:
        for table in (AuditEventCustomer, AuditEvent, AuditSeal, AuditHead):
            session.execute(sa.delete(table))

    assert problem_after(session, log, everything) == "the audit head is missing"

    def seals_and_head() -> None:
        session.execute(sa.update(AuditEvent).values(seal_id=None))
        session.execute(sa.delete(AuditEventCustomer))
        session.execute(sa.delete(AuditSeal))
        session.execute(sa.delete(AuditHead))

    assert problem_after(session, log, seals_and_head) == "the audit head is missing"


def test_an_older_head_is_a_rollback_the_anchor_reveals(vault: tuple[Session, AuditLog]) -> None:
    """The database restored to its state after seal 2: consistent in itself, but the
    anchor has seen seal 3."""
    session, log = vault
    seal_two = session.get(AuditSeal, 2)
    assert seal_two is not None
    old_hash = seal_two.seal_hash

    def restore_after_seal_two() -> None:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.seal_id == 3))
        session.execute(sa.delete(AuditSeal).where(AuditSeal.id == 3))
        session.execute(
            sa.update(AuditHead).values(
                seal_id=2, seal_hash=old_hash, mac=head_mac(log.key, 2, old_hash)
            )
        )

    problem = problem_after(session, log, restore_after_seal_two)
    assert problem.startswith("seal 3 is missing: the log was rolled back")
    assert "records seal 3, the database's newest is seal 2" in problem


def test_restoring_an_older_copy_of_the_database_is_detected(
    fresh_database_url: str, make_app: Callable[..., Flask], tmp_path: Path, clock: FixedClock
) -> None:
    prepare_database(fresh_database_url)
    app = make_app(fresh_database_url)
    with app.app_context():
        log = runtime.audit_log()
        write_events(db.session, 5, clock.now())
        log.seal(db.session, now=clock.now())
        assert log.verify(db.session, now=clock.now()).ok
        db.session.close()
        db.engine.dispose()
    snapshot = take_snapshot(fresh_database_url, tmp_path)
    with app.app_context():
        write_events(db.session, 5, clock.now())
        log.seal(db.session, now=clock.now())
        assert log.verify(db.session, now=clock.now()).ok
        db.session.close()
        db.engine.dispose()
    restore_snapshot(fresh_database_url, snapshot)
    settings = app.config["VAULT_SETTINGS"]
    env = {"VAULT_DATABASE_URL": fresh_database_url, "VAULT_AUDIT_ANCHOR": settings.audit_anchor,
           "VAULT_INSTANCE_PATH": str(settings.instance_path)}  # fmt: skip
    verified = CliRunner(env=env).invoke(main, ["audit", "verify"])
    assert verified.exit_code == 1
    assert "NOT intact: seal 2 is missing: the log was rolled back" in verified.stderr


def take_snapshot(url: str, tmp_path: Path) -> str:
    """A copy of the whole database as it is now (a file copy, or a template database)."""
    if DATABASE_KIND == "sqlite":
        path = url.removeprefix("sqlite:///")
        shutil.copy(path, tmp_path / "snapshot.db")
        return str(tmp_path / "snapshot.db")
    name = url.rpartition("/")[2]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}_snap" TEMPLATE "{name}"')
    return f"{name}_snap"


def restore_snapshot(url: str, snapshot: str) -> None:
    if DATABASE_KIND == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copy(snapshot, path)
        return
    name = url.rpartition("/")[2]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'ALTER DATABASE "{snapshot}" RENAME TO "{name}"')


def test_an_anchor_that_was_emptied_or_edited_fails_verification(
    vault: tuple[Session, AuditLog],
) -> None:
    session, log = vault
    assert isinstance(log.anchor, FileAnchor)
    path = log.anchor.path
    original = path.read_bytes()
    try:
        lines = original.decode().splitlines()
        forged = json.loads(lines[-1])
        forged["seal"] = 1
        path.write_text("\n".join([*lines[:-1], json.dumps(forged)]) + "\n")
        report = log.verify(session, now=runtime.now())
        assert (
            report.problem == f"{log.anchor.description} holds an entry with an invalid signature"
        )
        path.write_bytes(b"")
        report = log.verify(session, now=runtime.now())
        assert report.problem == (
            f"{log.anchor.description} holds no entry: the log's history cannot be checked"
        )
    finally:
        path.write_bytes(original)
    assert log.verify(session, now=runtime.now()).ok


def test_vault_init_does_not_hide_a_deleted_log_under_a_new_genesis(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = {"VAULT_DATABASE_URL": fresh_database_url, "VAULT_INSTANCE_PATH": str(tmp_path / "i")}
    runner = CliRunner(env=env)
    runner.invoke(main, ["init"], catch_exceptions=False)
    runner.invoke(main, ["audit", "seal"], catch_exceptions=False)  # nothing yet: head stays 0
    engine = sa.create_engine(fresh_database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(sa.delete(AuditHead))
    engine.dispose()
    again = runner.invoke(main, ["init"])
    assert "The audit log is damaged and was left as it is" in again.stderr
    assert "records seal 0: the log was deleted" in again.stderr
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "the audit head is missing" in broken.stderr


# --- the anchor in a database of its own -------------------------------------------------


@pytest.fixture
def anchor_database() -> Iterator[tuple[str, str]]:
    """A PostgreSQL database for anchors, and the URL of a role that may only INSERT and
    SELECT there (the production set-up README describes). PostgreSQL is required in both
    halves of the suite."""
    name = f"vault_anchor_{dt.datetime.now(dt.UTC):%H%M%S%f}"
    role = f"{name}_writer"
    base = POSTGRES_URL.rpartition("/")[0]
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for this run and is not reachable: {exc}")
    owner = DatabaseAnchor(f"{base}/{name}", b"x" * 32)
    owner.create_table()
    owner.dispose()
    with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
        conn.execute(f'GRANT INSERT, SELECT ON audit_anchor TO "{role}"')
    writer = base.replace("postgres@", f"{role}@")
    try:
        yield f"{writer}/{name}", f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_database_anchor_written_by_an_insert_only_role(
    anchor_database: tuple[str, str], make_app: Callable[..., Flask], clock: FixedClock
) -> None:
    writer_url, _owner_url = anchor_database
    app = make_app(audit_anchor=writer_url)
    with app.app_context():
        log = runtime.audit_log()
        assert isinstance(log.anchor, DatabaseAnchor)
        write_events(db.session, 4, clock.now())
        log.seal(db.session, now=clock.now())
        assert log.verify(db.session, now=clock.now()).ok
        newest = log.anchor.newest()
        assert newest is not None
        assert newest.seal_id == 1
        # the role that writes the anchor cannot rewrite it
        with pytest.raises(sa.exc.ProgrammingError), log.anchor.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM audit_anchor WHERE seal_id = 1"))
        with pytest.raises(sa.exc.ProgrammingError), log.anchor.engine.begin() as connection:
            connection.execute(sa.text("UPDATE audit_anchor SET seal_id = 0"))
        log.anchor.dispose()
