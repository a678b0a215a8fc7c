"""The unit of work's after-commit hooks: what cannot be undone (mail, purging an erasure's
traces) runs once the work has committed, and never when it rolls back."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from vault.db import db
from vault.policies.models import Purpose


@pytest.fixture
def session(make_app: Callable[..., Flask]) -> Iterator[Session]:
    """The unit of work's session, in an app context of a new app (on a database of its own)."""
    with make_app().app_context():
        yield db.session


@pytest.fixture
def ran() -> list[str]:
    """What the hooks of a test ran, in order."""
    return []


def test_a_hook_runs_once_after_the_commit_and_never_after_a_rollback(
    session: Session, ran: list[str]
) -> None:
    session.add(Purpose(code="hooked", legal_basis="contract"))
    db.after_commit(lambda: ran.append("first"))
    assert ran == []  # not before
    session.commit()
    assert ran == ["first"]
    session.commit()
    assert ran == ["first"]  # once

    session.add(Purpose(code="dropped", legal_basis="contract"))
    db.after_commit(lambda: ran.append("rolled back"))
    session.rollback()
    session.commit()  # a later commit does not run the forgotten hook
    assert ran == ["first"]
    assert session.get(Purpose, "dropped") is None


def test_a_savepoint_does_not_run_the_hooks_the_outer_commit_does(
    session: Session, ran: list[str]
) -> None:
    with session.begin_nested():
        session.add(Purpose(code="inner", legal_basis="contract"))
        db.after_commit(lambda: ran.append("outer commit"))
    assert ran == []
    session.commit()
    assert ran == ["outer commit"]


def test_a_failing_hook_is_logged_and_the_others_still_run(
    make_app: Callable[..., Flask], ran: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app()  # made once capsys captures, so that its log is captured

    def broken() -> None:
        raise OSError("the outbox is gone")

    with app.app_context():
        db.session.add(Purpose(code="logged", legal_basis="contract"))
        db.after_commit(broken)
        db.after_commit(lambda: ran.append("second"))
        db.session.commit()  # does not raise: the work is committed
        assert db.session.get(Purpose, "logged") is not None
    assert ran == ["second"]
    logged = capsys.readouterr()
    assert "db.after_commit_failed" in logged.out + logged.err
    assert "OSError" in logged.out + logged.err
    assert "the outbox is gone" not in logged.out + logged.err


@pytest.mark.parametrize(("status", "runs"), [(200, True), (422, False)])
def test_a_request_runs_its_hooks_only_when_its_work_commits(
    make_app: Callable[..., Flask], ran: list[str], status: int, runs: bool
) -> None:
    app = make_app()

    @app.post("/_hooked")
    def hooked() -> tuple[str, int]:
        db.session.add(Purpose(code="by_request", legal_basis="contract"))
        db.after_commit(lambda: ran.append("sent"))
        return "", status

    assert app.test_client().post("/_hooked").status_code == status
    assert ran == (["sent"] if runs else [])
