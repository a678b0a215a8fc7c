"""An audit log that is complete as well as unaltered: events that carry a MAC from the moment
they are written, copies recognised, customer links checked against their events, no event
waiting unsealed past the limit, and malformed seals (the head and its anchor:
test_audit_anchor.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.helpers import problem_after
from vault.audit.integrity import AuditLog
from vault.audit.models import AuditEvent, AuditEventCustomer, AuditSeal
from vault.clock import FixedClock


def first_unsealed(session: Session) -> AuditEvent:
    event = session.scalar(
        sa.select(AuditEvent).where(AuditEvent.seal_id.is_(None)).order_by(AuditEvent.id)
    )
    assert event is not None
    return event


def unused_id(session: Session) -> int:
    """An event id no event has (sequences move on across tests on PostgreSQL)."""
    return (session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0) + 1000


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
