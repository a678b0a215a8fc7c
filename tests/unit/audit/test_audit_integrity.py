"""The audit log's integrity: any change to a sealed event, any deletion, duplication or
reordering, or the loss of the newest seals is detected and named; an untouched log verifies."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from tests.helpers import EDITABLE, PASSWORD, write_events
from vault import runtime
from vault.audit import canonical
from vault.audit.integrity import AuditLog
from vault.audit.models import AuditEvent, AuditHead, AuditSeal
from vault.bootstrap import prepare_database
from vault.cli import main
from vault.db import db

EVENTS = 47
SEAL_SIZE = 10  # five seals: 10, 10, 10, 10, 7
FUZZ = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def sealed(app: Flask, clock: Any) -> Iterator[tuple[Session, AuditLog]]:
    with app.app_context():
        session = db.session
        log = runtime.audit_log()
        write_events(session, EVENTS, clock.now())
        report = log.seal(session, now=clock.now(), batch_size=SEAL_SIZE)
        assert (report.seals, report.events) == (5, EVENTS)
        write_events(session, 3, clock.now())  # pending, not sealed yet
        session.commit()
        yield session, log


def event_ids(session: Session) -> list[int]:
    return list(
        session.scalars(
            sa.select(AuditEvent.id).where(AuditEvent.seal_id.is_not(None)).order_by(AuditEvent.id)
        )
    )


def tampered(session: Session, log: AuditLog, tamper: Callable[[], object]) -> str | None:
    """Apply ``tamper`` inside a savepoint, verify, undo; returns the problem reported."""
    nested = session.begin_nested()
    tamper()
    session.flush()
    report = log.verify(session, now=runtime.now())
    nested.rollback()
    assert report.ok is (report.problem is None)
    return report.problem


def test_an_untouched_log_verifies(sealed: tuple[Session, AuditLog]) -> None:
    session, log = sealed
    report = log.verify(session, now=runtime.now())
    assert report.ok, report.problem
    assert (report.seals, report.events, report.unsealed) == (5, EVENTS, 3)


# How a test tampers with the sealed events, and the problems verification may name for it.
Tampering = tuple[Callable[[], object], set[str]]


def alter_any_column_of_any_event(session: Session, data: st.DataObject) -> Tampering:
    target = data.draw(st.sampled_from(event_ids(session)))
    column = data.draw(st.sampled_from([*EDITABLE, "occurred_at"]))
    value: Any = EDITABLE.get(column, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    current = session.scalar(sa.select(getattr(AuditEvent, column)).where(AuditEvent.id == target))
    if current == value:
        value = "error" if column == "outcome" else value + "x"
    update = sa.update(AuditEvent).where(AuditEvent.id == target).values({column: value})
    return lambda: session.execute(update), {f"event {target} was altered"}


def delete_any_event(session: Session, data: st.DataObject) -> Tampering:
    target = data.draw(st.sampled_from(event_ids(session)))
    delete = sa.delete(AuditEvent).where(AuditEvent.id == target)
    return lambda: session.execute(delete), {f"event {target} is missing"}


def duplicate_any_event(session: Session, data: st.DataObject) -> Tampering:
    source = session.get(AuditEvent, data.draw(st.sampled_from(event_ids(session))))
    assert source is not None
    copy = {
        c.key: getattr(source, c.key) for c in sa.inspect(AuditEvent).column_attrs if c.key != "id"
    }
    new_id = 10_000 + data.draw(st.integers(0, 100))
    insert = sa.insert(AuditEvent).values(id=new_id, **copy)
    return lambda: session.execute(insert), {f"event {new_id} was added"}


def reorder_two_events(session: Session, data: st.DataObject) -> Tampering:
    first, second = sorted(
        data.draw(
            st.lists(st.sampled_from(event_ids(session)), min_size=2, max_size=2, unique=True)
        )
    )
    rows = {
        r.id: r
        for r in session.execute(
            sa.select(AuditEvent.__table__).where(AuditEvent.id.in_([first, second]))
        )
    }

    def swap() -> None:
        for here, there in ((first, second), (second, first)):
            values = {k: v for k, v in rows[there]._mapping.items() if k != "id"}
            session.execute(sa.update(AuditEvent).where(AuditEvent.id == here).values(**values))

    # Within a seal the contents differ; across seals the event also left its seal.
    return swap, {f"event {first} was altered", f"event {first} is missing"}


def delete_the_newest_events(session: Session, data: st.DataObject) -> Tampering:
    ids = event_ids(session)
    keep = data.draw(st.integers(0, len(ids) - 2))  # delete at least the newest event
    delete = sa.delete(AuditEvent).where(AuditEvent.id > ids[keep], AuditEvent.seal_id.is_not(None))
    return lambda: session.execute(delete), {f"event {ids[keep + 1]} is missing"}


@pytest.mark.parametrize(
    "tampering",
    [
        alter_any_column_of_any_event,
        delete_any_event,
        duplicate_any_event,
        reorder_two_events,
        delete_the_newest_events,
    ],
    ids=lambda tampering: tampering.__name__,
)
@FUZZ
@given(data=st.data())
def test_tampering_with_sealed_events_is_detected(
    sealed: tuple[Session, AuditLog],
    data: st.DataObject,
    tampering: Callable[[Session, st.DataObject], Tampering],
) -> None:
    session, log = sealed
    tamper, named = tampering(session, data)
    assert tampered(session, log, tamper) in named


def test_deleting_the_newest_seals_and_their_events_is_detected(
    sealed: tuple[Session, AuditLog],
) -> None:
    session, log = sealed

    def truncate() -> None:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.seal_id >= 4))
        session.execute(sa.delete(AuditSeal).where(AuditSeal.id >= 4))

    assert tampered(session, log, truncate) == "seal 4 is missing: the log was truncated"


def test_a_forged_head_or_seal_is_detected(sealed: tuple[Session, AuditLog]) -> None:
    session, log = sealed
    forged_head = tampered(
        session, log, lambda: session.execute(sa.update(AuditHead).values(mac=b"\0" * 32))
    )
    assert forged_head == "the audit head does not carry a valid signature"
    forged_seal = tampered(
        session,
        log,
        lambda: session.execute(
            sa.update(AuditSeal).where(AuditSeal.id == 2).values(merkle_root=b"\1" * 32)
        ),
    )
    assert forged_seal == "seal 2 was altered"
    missing_seal = tampered(
        session, log, lambda: session.execute(sa.delete(AuditSeal).where(AuditSeal.id == 3))
    )
    assert missing_seal == "seal 3 is missing"


def test_the_wrong_key_does_not_verify(sealed: tuple[Session, AuditLog]) -> None:
    session, log = sealed
    report = dataclasses.replace(log, key=b"k" * 32).verify(session, now=runtime.now())
    assert not report.ok
    assert report.problem == "the audit head does not carry a valid signature"


def test_resealing_continues_the_chain(sealed: tuple[Session, AuditLog], clock: Any) -> None:
    session, log = sealed
    report = log.seal(session, now=clock.now())
    assert (report.seals, report.events) == (1, 3)
    assert log.seal(session, now=clock.now()).events == 0
    final = log.verify(session, now=clock.now())
    assert final.ok
    assert (final.seals, final.events, final.unsealed) == (6, EVENTS + 3, 0)


def test_the_cli_seals_and_verifies_with_exit_codes(
    fresh_database_url: str, make_app: Callable[..., Flask], tmp_path: Any
) -> None:
    prepare_database(fresh_database_url)
    app = make_app(fresh_database_url)
    env = {
        "VAULT_DATABASE_URL": fresh_database_url,
        "VAULT_INSTANCE_PATH": app.config["VAULT_SETTINGS"].instance_path.as_posix(),
        "VAULT_AUDIT_ANCHOR": app.config["VAULT_SETTINGS"].audit_anchor,
    }
    with app.app_context(), db.transaction() as session:
        write_events(session, 12, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    runner = CliRunner(env=env)
    assert "Sealed 12 events in 1 seals." in runner.invoke(main, ["audit", "seal"]).stdout
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0
    assert "12 events in 1 seals verified" in ok.stdout
    with app.app_context(), db.transaction() as session:
        session.execute(
            sa.update(AuditEvent).where(AuditEvent.id == 7).values(outcome="allowed", reason="x")
        )
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "event 7 was altered" in broken.stderr
    assert PASSWORD not in broken.output


def test_parallel_verification_names_the_same_first_problem(
    fresh_database_url: str, make_app: Callable[..., Flask]
) -> None:
    prepare_database(fresh_database_url)
    app = make_app(fresh_database_url)
    with app.app_context():
        session = db.session
        log = runtime.audit_log()
        write_events(session, 60, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        sealed_at = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
        log.seal(session, now=sealed_at, batch_size=6)
        intact = log.verify(session, now=sealed_at, jobs=2, database_url=fresh_database_url)
        assert intact.ok
        assert (intact.seals, intact.events) == (10, 60)
        for target in (45, 15):  # in seal 8, then in seal 3
            session.execute(sa.update(AuditEvent).where(AuditEvent.id == target).values(reason="x"))
            session.commit()
        sequential = log.verify(session, now=sealed_at)
        parallel = log.verify(session, now=sealed_at, jobs=2, database_url=fresh_database_url)
    assert sequential.problem == parallel.problem == "event 15 was altered"
    assert sequential.seals == parallel.seals == 2


def test_seals_made_with_the_earlier_concatenation_still_verify(
    make_app: Callable[..., Flask], tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events were once rendered on SQLite with a chain of || (DECISIONS.md 9): logs sealed
    then must verify now, and the two renderings must agree on every column. The rendering is
    SQLite's, so the test has an SQLite vault of its own in the PostgreSQL run as well."""
    url = f"sqlite:///{tmp_path / 'concatenated.db'}"
    prepare_database(url)
    app = make_app(url)
    columns = ["occurred_at", *canonical.CONTENT_COLUMNS]
    with app.app_context():
        session = db.session
        log = runtime.audit_log()
        write_events(session, 40, clock.now())
        with monkeypatch.context() as patched:
            patched.setattr(canonical, "_SQLITE_CONTENT", " || char(31) || ".join(columns))
            assert log.seal(session, now=clock.now(), batch_size=16).events == 40
        assert canonical.content_sql("sqlite").startswith("printf(")
        assert log.verify(session, now=clock.now()).ok
