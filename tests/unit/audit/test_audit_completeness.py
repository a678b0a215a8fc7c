"""An audit log that is complete as well as unaltered: a genesis head from `vault init`, every
head anchored outside the database, events that carry a MAC from the moment they are written,
customer links checked against their events, and no event waiting unsealed past the limit."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session

from tests.helpers import DATABASE_KIND, POSTGRES_URL, write_events
from vault import runtime
from vault.audit.anchor import DatabaseAnchor, FileAnchor
from vault.audit.chain import head_mac
from vault.audit.integrity import AuditLog
from vault.audit.models import AuditEvent, AuditEventCustomer, AuditHead, AuditSeal
from vault.bootstrap import prepare_database
from vault.cli import main
from vault.clock import FixedClock
from vault.db import db


@pytest.fixture
def vault(app: Flask, clock: FixedClock) -> Iterator[tuple[Session, AuditLog]]:
    """A log of 30 events in 3 sealed seals and 2 pending ones."""
    with app.app_context():
        session, log = db.session, runtime.audit_log()
        write_events(session, 30, clock.now())
        assert log.seal(session, now=clock.now(), batch_size=10).seals == 3
        write_events(session, 2, clock.now())
        session.commit()
        yield session, log


def problem_after(session: Session, log: AuditLog, tamper: Callable[[], Any], **verify: Any) -> str:
    """Tamper inside a savepoint, verify, undo; the problem must be reported."""
    nested = session.begin_nested()
    tamper()
    session.flush()
    report = log.verify(session, now=verify.pop("now", runtime.now()))
    nested.rollback()
    assert not report.ok
    assert report.problem
    return report.problem


def first_unsealed(session: Session) -> AuditEvent:
    event = session.scalar(
        sa.select(AuditEvent).where(AuditEvent.seal_id.is_(None)).order_by(AuditEvent.id)
    )
    assert event is not None
    return event


def unused_id(session: Session) -> int:
    """An event id no event has (sequences move on across tests on PostgreSQL)."""
    return (session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0) + 1000


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


# --- events before they are sealed -----------------------------------------------------


def test_an_edited_or_forged_unsealed_event_fails_and_is_never_sealed(
    vault: tuple[Session, AuditLog], clock: FixedClock
) -> None:
    session, log = vault
    target, free = first_unsealed(session), unused_id(session)
    edited = problem_after(
        session, log,
        lambda: session.execute(
            sa.update(AuditEvent).where(AuditEvent.id == target.id).values(actor_id="usr_x")
        ),
    )  # fmt: skip
    assert edited == f"event {target.id} is not sealed and fails its MAC: it was altered or forged"
    forged = problem_after(
        session, log,
        lambda: session.execute(sa.insert(AuditEvent).values(
            id=free, occurred_at=clock.now(), actor_kind="user", actor_id="usr_forger",
            action="customer.read", outcome="allowed", mac=b"\x01" * 48,
        )),
    )  # fmt: skip
    assert forged == f"event {free} is not sealed and fails its MAC: it was altered or forged"
    without = problem_after(
        session, log,
        lambda: session.execute(
            sa.update(AuditEvent).where(AuditEvent.id == target.id).values(mac=None)
        ),
    )  # fmt: skip
    assert without == f"event {target.id} is not sealed and carries no MAC"

    # the sealer leaves the edited event behind and seals the genuine one after it
    session.execute(sa.update(AuditEvent).where(AuditEvent.id == target.id).values(reason="edited"))
    session.commit()
    report = log.seal(session, now=clock.now())
    assert report.events == 1
    assert report.refused == [(target.id, "fails its MAC: it was altered or forged")]
    assert session.get_one(AuditEvent, target.id, populate_existing=True).seal_id is None
    after = log.verify(session, now=clock.now())
    assert after.problem == (
        f"event {target.id} is not sealed and fails its MAC: it was altered or forged"
    )


def test_a_copy_of_an_event_is_recognised(vault: tuple[Session, AuditLog]) -> None:
    session, log = vault
    columns = [c.key for c in sa.inspect(AuditEvent).column_attrs if c.key not in ("id", "seal_id")]

    def copy_of(source_id: int, new_id: int) -> Callable[[], Any]:
        source = session.get(AuditEvent, source_id)
        assert source is not None
        values = {c: getattr(source, c) for c in columns}
        return lambda: session.execute(sa.insert(AuditEvent).values(id=new_id, **values))

    unsealed, free = first_unsealed(session).id, unused_id(session)
    assert problem_after(session, log, copy_of(unsealed, free)) == (
        f"event {free} repeats event {unsealed}"
    )
    sealed = session.scalar(sa.select(AuditEvent.id).where(AuditEvent.seal_id == 2).limit(1))
    assert sealed is not None
    assert (
        problem_after(session, log, copy_of(sealed, free)) == f"event {free} repeats event {sealed}"
    )


def test_an_event_waiting_unsealed_past_the_limit_fails_verification(
    vault: tuple[Session, AuditLog], clock: FixedClock, tmp_path: Path
) -> None:
    session, log = vault
    assert log.unsealed_limit == dt.timedelta(seconds=300)
    assert log.verify(session, now=clock.now() + dt.timedelta(seconds=299)).ok
    late = log.verify(session, now=clock.now() + dt.timedelta(seconds=301))
    oldest = first_unsealed(session).id
    assert late.problem == (
        f"event {oldest} has waited 301 s unsealed, longer than the limit of 300 s:"
        " is the sealer running?"
    )
    assert late.oldest_unsealed == clock.now()


# --- the customer links --------------------------------------------------------------------


def test_the_links_behind_who_accessed_my_data_are_verified(
    vault: tuple[Session, AuditLog],
) -> None:
    session, log = vault
    link = session.execute(
        sa.select(AuditEventCustomer.event_id, AuditEventCustomer.customer_id)
        .order_by(AuditEventCustomer.event_id)
        .offset(12)
        .limit(1)
    ).one()
    deleted = problem_after(
        session, log,
        lambda: session.execute(sa.delete(AuditEventCustomer).where(
            AuditEventCustomer.event_id == link.event_id)),
    )  # fmt: skip
    assert deleted == f"event {link.event_id} lost its link to customer {link.customer_id}"
    moved = problem_after(
        session, log,
        lambda: session.execute(sa.update(AuditEventCustomer).where(
            AuditEventCustomer.event_id == link.event_id).values(customer_id="cus_other")),
    )  # fmt: skip
    assert moved == f"event {link.event_id} lost its link to customer {link.customer_id}"
    added = problem_after(
        session, log,
        lambda: session.execute(sa.insert(AuditEventCustomer).values(
            event_id=link.event_id, customer_id="cus_zzz")),
    )  # fmt: skip
    assert added == f"event {link.event_id} has a link to customer cus_zzz that it does not name"
    unsealed = first_unsealed(session).id
    early = problem_after(
        session, log,
        lambda: session.execute(sa.insert(AuditEventCustomer).values(
            event_id=unsealed, customer_id="cus_zzz")),
    )  # fmt: skip
    assert early == f"event {unsealed} is not sealed yet but has customer links"


def test_a_malformed_seal_is_a_clear_failure(vault: tuple[Session, AuditLog]) -> None:
    session, log = vault
    malformed = problem_after(
        session, log,
        lambda: session.execute(sa.update(AuditSeal).where(AuditSeal.id == 2).values(
            event_count=-1)),
    )  # fmt: skip
    assert malformed == "seal 2 is malformed"
    short_root = problem_after(
        session, log,
        lambda: session.execute(sa.update(AuditSeal).where(AuditSeal.id == 1).values(
            entries=b"\x00" * 7)),
    )  # fmt: skip
    assert short_root == "seal 1 was altered"


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
