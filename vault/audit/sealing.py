"""Sealing: the genesis head of a new log, and the sealer that assigns pending events to seals.

Writers only insert events; the sealer alone writes seals and the head (and so never makes
requests wait on a shared row). Before it seals an event it checks the event's MAC: an event
that was edited or forged since it was written, or that repeats another event, is never
sealed. It stays behind, unsealed, and verification names it until it is removed. Every new
head is written to the anchor once its seal has committed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.anchor import AuditAnchor
from vault.audit.canonical import content_time, mac_holds
from vault.audit.chain import (
    GENESIS,
    HEAD_ID,
    EventRow,
    entries_of,
    entries_root,
    head_mac,
    seal_hash,
    seal_rows,
)
from vault.audit.models import AuditEvent, AuditEventCustomer, AuditHead, AuditSeal
from vault.errors import VaultError
from vault.logs import get_logger

log = get_logger("vault.audit")


class AuditNotInitialised(
    VaultError, status=503, code="audit_not_initialised", title="Audit Log Not Initialised"
):
    """The log has no head: `vault init` writes the genesis head of a new log."""


class AuditLogDamaged(VaultError, code="audit_log_damaged", title="Audit Log Damaged"):
    """The log cannot be given a new genesis: its seals or its anchor show a history."""


@dataclasses.dataclass
class SealReport:
    seals: int
    events: int
    # events left unsealed because they failed their MAC or repeat another: (id, problem)
    refused: list[tuple[int, str]] = dataclasses.field(default_factory=list)


def initialise_log(
    session: Session, key: bytes, anchor: AuditAnchor, *, now: dt.datetime
) -> list[str]:
    """Give a new log its genesis head (seal 0, MAC'd) and anchor it; anchor the head of a
    log that has one but no anchor entry yet; seal the events an earlier version left
    unsealed without a MAC. Commits. Returns what changed.

    Raises ``AuditLogDamaged`` when the head is missing although seals exist or the anchor
    records a history: a missing head is then a deletion, never a new log.
    """
    changes: list[str] = []
    head = session.get(AuditHead, HEAD_ID)
    anchored = anchor.newest()
    if head is None:
        if session.scalar(sa.select(sa.func.count()).select_from(AuditSeal)):
            raise AuditLogDamaged("the audit log has seals but no head: it was tampered with")
        if anchored is not None:
            raise AuditLogDamaged(
                f"the audit log has no head, but {anchor.description} records seal"
                f" {anchored.seal_id}: the log was deleted"
            )
        session.add(AuditHead(id=HEAD_ID, seal_id=0, seal_hash=GENESIS,
                              mac=head_mac(key, 0, GENESIS)))  # fmt: skip
        session.commit()
        anchor.append(0, GENESIS, now=now)
        changes.append(f"wrote the audit log's genesis head, anchored in {anchor.description}")
    elif anchored is None:
        anchor.append(head.seal_id, head.seal_hash, now=now)
        changes.append(f"anchored the audit head (seal {head.seal_id}) in {anchor.description}")
    legacy = session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.seal_id.is_(None), AuditEvent.mac.is_(None))
    )
    session.commit()
    if legacy:
        report = seal_pending_events(session, key, anchor=anchor, now=now, accept_unmacked=True)
        changes.append(f"sealed {report.events} events written before events carried a MAC")
    return changes


def seal_pending_events(
    session: Session,
    key: bytes,
    *,
    anchor: AuditAnchor,
    now: dt.datetime,
    batch_size: int = 50_000,
    accept_unmacked: bool = False,
) -> SealReport:
    """Seal every genuine event not yet sealed, ``batch_size`` per seal, committing each seal
    and then anchoring its head. Events whose MAC fails, or that repeat another event, are
    left unsealed and reported (``accept_unmacked`` lets `vault init` seal events written
    before MACs existed).

    Only sealers write the head, so concurrent requests never wait on it; two sealers
    serialise on the head row. Raises ``AuditNotInitialised`` without a head.
    """
    report = SealReport(0, 0)
    refused: set[int] = set()
    while True:
        head = session.execute(
            sa.select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
        ).scalar_one_or_none()
        if head is None:
            session.rollback()
            raise AuditNotInitialised("the audit log has no head: run `vault init`")
        pending = sa.and_(AuditEvent.seal_id.is_(None), AuditEvent.id.not_in(refused))
        last_id = session.scalar(
            sa.select(AuditEvent.id).where(pending).order_by(AuditEvent.id)
            .offset(batch_size - 1).limit(1)
        ) or session.scalar(sa.select(sa.func.max(AuditEvent.id)).where(pending))  # fmt: skip
        if last_id is None:
            session.commit()
            return report
        seal_id = head.seal_id + 1
        session.execute(
            sa.update(AuditEvent).where(pending, AuditEvent.id <= last_id).values(seal_id=seal_id)
        )
        rows = seal_rows(session, seal_id)
        bad = _refusals(session, key, rows, seal_id, accept_unmacked=accept_unmacked)
        if bad:
            session.execute(
                sa.update(AuditEvent).where(AuditEvent.id.in_(bad)).values(seal_id=None)
            )
            for event_id, problem in sorted(bad.items()):
                log.error("audit.event_not_sealed", event_id=event_id, problem=problem)
            report.refused += sorted(bad.items())
            refused |= set(bad)
            rows = [r for r in rows if r.id not in bad]
            if not rows:
                continue
        link_customers(session, seal_id)
        entries = entries_of(rows, seal_id)
        root = entries_root(entries)
        hash_ = seal_hash(seal_id, len(rows), root, head.seal_hash, now)
        session.add(
            AuditSeal(id=seal_id, sealed_at=now, event_count=len(rows),
                      first_event_id=rows[0].id, last_event_id=rows[-1].id, merkle_root=root,
                      previous_hash=head.seal_hash, seal_hash=hash_, entries=entries)
        )  # fmt: skip
        head.seal_id, head.seal_hash, head.mac = seal_id, hash_, head_mac(key, seal_id, hash_)
        session.commit()
        anchor.append(seal_id, hash_, now=now)
        report.seals += 1
        report.events += len(rows)


def _refusals(
    session: Session, key: bytes, rows: list[EventRow], seal_id: int, *, accept_unmacked: bool
) -> dict[int, str]:
    """The events of a batch that must not be sealed, each with why."""
    bad: dict[int, str] = {}
    seen: dict[bytes, int] = {}
    for row in rows:
        if row.mac is None:
            if not accept_unmacked:
                bad[row.id] = "carries no MAC"
        elif not mac_holds(key, row.content, row.mac):
            bad[row.id] = "fails its MAC: it was altered or forged"
        elif row.mac in seen:
            bad[row.id] = f"repeats event {seen[row.mac]}"
        else:
            seen[row.mac] = row.id
    if seen:
        oldest = min(content_time(r.content) for r in rows if r.mac in seen)
        for mac, original in repeated_elsewhere(session, set(seen), oldest, seal_id).items():
            bad[seen[mac]] = f"repeats event {original}"
    return bad


def repeated_elsewhere(
    session: Session, macs: set[bytes], oldest: dt.datetime, seal_id: int | None
) -> dict[bytes, int]:
    """Which of ``macs`` (of events in seal ``seal_id``, or unsealed ones when None, the
    oldest of which occurred at ``oldest``) an event sealed in another seal carries, with
    that event's id. A copy keeps its original's time, so only events as young as ``oldest``
    need looking at: normally the few sealed since the oldest pending event was written."""
    others: sa.ColumnElement[bool] = AuditEvent.seal_id.is_not(None)
    if seal_id is not None:
        others = sa.and_(others, AuditEvent.seal_id != seal_id)
    found: dict[bytes, int] = {}
    rows = session.execute(
        sa.select(AuditEvent.mac, AuditEvent.id)
        .where(others, AuditEvent.occurred_at >= oldest, AuditEvent.mac.is_not(None))
        .execution_options(yield_per=10_000)
    )
    for mac, event_id in rows:
        if mac is not None and bytes(mac) in macs:
            found.setdefault(bytes(mac), event_id)
    return found


def link_customers(session: Session, seal_id: int, *, chunk: int = 5_000) -> int:
    """Index the customers of seal ``seal_id``'s events (``audit_event_customers``), in the
    sealing transaction; returns how many links were written. A request writes one event
    row, however many customers it names: the links, which land on random pages of the
    customer index, are written here in batches instead. Events linked already (by an
    earlier version, which linked at write time) are skipped."""
    rows = session.execute(
        sa.select(AuditEvent.id, AuditEvent.customer_ids)
        .where(
            AuditEvent.seal_id == seal_id,
            AuditEvent.customer_ids != "",
            ~sa.exists().where(AuditEventCustomer.event_id == AuditEvent.id),
        )
        .order_by(AuditEvent.id)
        .execution_options(yield_per=chunk)
    )
    written = 0
    for part in rows.partitions():
        links = [
            {"event_id": event_id, "customer_id": customer}
            for event_id, customers in part
            for customer in customers.split()
        ]
        links.sort(key=lambda link: (link["customer_id"], link["event_id"]))
        session.execute(sa.insert(AuditEventCustomer), links)
        written += len(links)
    return written
