"""Verification of the audit log: unaltered *and* complete.

It walks the seal chain, checks every sealed event against its seal and every customer link
against its events, checks the head's MAC and that the head is the newest seal, checks the
head against the anchor outside the database (an older head is a rollback or a truncation),
and checks the events not sealed yet: each must carry a valid MAC, none may repeat another,
and none may have waited longer than the configured limit. The first problem found, in log
order, is reported in words.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import hmac
import multiprocessing
import struct
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.anchor import AnchorAltered, AnchorUnavailable, AuditAnchor
from vault.audit.canonical import content_time, mac_holds
from vault.audit.chain import (
    ENTRY,
    ENTRY_SIZE,
    GENESIS,
    HEAD_ID,
    EventRow,
    entries_of,
    entries_root,
    expected_links,
    head_mac,
    leaf_hash,
    leaf_text,
    seal_hash,
    seal_rows,
    stored_links,
    unsealed_rows,
)
from vault.audit.models import AuditEvent, AuditEventCustomer, AuditHead, AuditSeal
from vault.audit.sealing import repeated_elsewhere
from vault.db import create_db_engine


@dataclasses.dataclass
class VerifyReport:
    ok: bool
    seals: int
    events: int
    unsealed: int
    problem: str | None = None  # the first bad position, in words
    oldest_unsealed: dt.datetime | None = None

    def fail(self, problem: str) -> VerifyReport:
        self.ok, self.problem = False, problem
        return self


def verify_audit_log(
    session: Session,
    key: bytes,
    *,
    anchor: AuditAnchor,
    now: dt.datetime,
    unsealed_limit: dt.timedelta,
    jobs: int = 1,
    database_url: str | None = None,
) -> VerifyReport:
    """Check the whole log; report the first problem in log order. With ``jobs`` > 1 (and
    the ``database_url`` of committed data) the seals' events are checked by that many
    processes."""
    report = VerifyReport(ok=True, seals=0, events=0, unsealed=0)
    chain_problem, good = _verify_seal_chain(session)
    work = [(seal.id, seal.entries, seal.merkle_root) for seal in good]
    if jobs > 1 and database_url is not None and len(good) > 1:
        found = _verify_events_in_processes(database_url, work, jobs)
    else:
        found = _verify_events(session, work)
    problem: str | None = chain_problem
    passed = good
    if found is not None:
        bad_seal, problem = found
        passed = [seal for seal in good if seal.id < bad_seal]
    report.seals = len(passed)
    report.events = sum(seal.event_count for seal in passed)
    if problem is None:
        last = passed[-1] if passed else None
        problem = (
            _verify_head(session, key, last)
            or _verify_anchor(anchor, passed)
            or _orphans(session, last)
            or _verify_unsealed(session, key, report, now=now, limit=unsealed_limit)
        )
    return report.fail(problem) if problem else report


def _verify_seal_chain(session: Session) -> tuple[str | None, list[AuditSeal]]:
    """Walk the seals (not their events); returns the first problem and the good seals
    before it. A seal whose columns cannot even be read is a problem, not a crash."""
    previous, expected_id = GENESIS, 1
    good: list[AuditSeal] = []
    seals = session.scalars(sa.select(AuditSeal).order_by(AuditSeal.id))
    while True:
        try:
            seal = next(seals, None)
            if seal is None:
                return None, good
            if seal.id != expected_id:
                return f"seal {expected_id} is missing", good
            recomputed = seal_hash(
                seal.id, seal.event_count, seal.merkle_root, seal.previous_hash, seal.sealed_at
            )
            well_formed = len(seal.entries) == ENTRY_SIZE * seal.event_count
        except (TypeError, ValueError, AttributeError, OverflowError, struct.error):
            return f"seal {expected_id} is malformed", good
        if seal.previous_hash != previous or seal.seal_hash != recomputed or not well_formed:
            return f"seal {seal.id} was altered", good
        good.append(seal)
        previous, expected_id = seal.seal_hash, expected_id + 1


SealWork = tuple[int, bytes, bytes]  # seal id, its (event id, leaf) entries, its Merkle root


def _verify_events(session: Session, work: Sequence[SealWork]) -> tuple[int, str] | None:
    """The first (seal id, problem) among ``work``'s seals, in order, or None: the entries
    must hash to the seal's root, the events to the entries, and the links to the events."""
    for seal_id, entries, root in work:
        try:
            if entries_root(entries) != root:
                return seal_id, f"seal {seal_id} was altered"
            problem = _verify_seal_events(session, seal_id, entries)
        except (TypeError, ValueError, struct.error):
            problem = f"seal {seal_id} is malformed"
        if problem:
            return seal_id, problem
    return None


def _verify_chunk(database_url: str, work: list[SealWork]) -> tuple[int, str] | None:
    """One process's share of the seals (a fresh engine: connections are not shared)."""
    engine = create_db_engine(database_url, read_only=True)
    try:
        with Session(engine) as session:
            return _verify_events(session, work)
    finally:
        engine.dispose()


def _verify_events_in_processes(
    database_url: str, work: list[SealWork], jobs: int
) -> tuple[int, str] | None:
    chunks = [work[i::jobs] for i in range(jobs)]  # interleaved: old and new seals alike
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        results = pool.map(_verify_chunk, [database_url] * jobs, chunks)
        problems = [found for found in results if found is not None]
    return min(problems) if problems else None


def _unexpected(expected: Iterable[int], found: Iterable[int]) -> str:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        return f"event {missing[0]} is missing"
    if extra:
        return f"event {extra[0]} was added"
    return "the events were reordered"


def _verify_seal_events(session: Session, seal_id: int, sealed_entries: bytes) -> str | None:
    rows = seal_rows(session, seal_id)
    # The seal's entries are authenticated by its root: an exact match proves every event;
    # only a mismatch needs the search for where it is.
    if not hmac.compare_digest(entries_of(rows, seal_id), sealed_entries):
        entries = list(ENTRY.iter_unpack(sealed_entries))
        for (expected_id, expected_leaf), row in zip(entries, rows, strict=False):
            if row.id != expected_id:
                return _unexpected([e[0] for e in entries], [r.id for r in rows])
            if not hmac.compare_digest(leaf_hash(leaf_text(row, seal_id)), expected_leaf):
                return f"event {expected_id} was altered"
        return _unexpected([e[0] for e in entries], [r.id for r in rows])
    expected, stored = expected_links(rows), stored_links(session, seal_id)
    if expected != stored:
        return _link_problem(expected, stored)
    return None


def _link_problem(expected: list[tuple[int, str]], stored: list[tuple[int, str]]) -> str:
    missing = sorted(set(expected) - set(stored))
    if missing:
        event_id, customer = missing[0]
        return f"event {event_id} lost its link to customer {customer}"
    event_id, customer = sorted(set(stored) - set(expected))[0]
    return f"event {event_id} has a link to customer {customer} that it does not name"


def _verify_head(session: Session, key: bytes, last: AuditSeal | None) -> str | None:
    try:
        head = session.get(AuditHead, HEAD_ID)
        if head is None:
            return "the audit head is missing"
        if not hmac.compare_digest(head.mac, head_mac(key, head.seal_id, head.seal_hash)):
            return "the audit head does not carry a valid signature"
    except (TypeError, ValueError, struct.error):
        return "the audit head is malformed"
    newest_id, newest_hash = (last.id, last.seal_hash) if last else (0, GENESIS)
    if head.seal_id != newest_id or head.seal_hash != newest_hash:
        return f"seal {newest_id + 1} is missing: the log was truncated"
    return None


def _verify_anchor(anchor: AuditAnchor, seals: list[AuditSeal]) -> str | None:
    """The head (the newest of ``seals``, already checked against the head row) must be no
    older than the anchor's newest entry, and the chain must pass through that entry."""
    try:
        entry = anchor.newest()
    except (AnchorAltered, AnchorUnavailable) as exc:
        return exc.detail
    if entry is None:
        return f"{anchor.description} holds no entry: the log's history cannot be checked"
    newest = seals[-1].id if seals else 0
    if entry.seal_id > newest:
        return (
            f"seal {newest + 1} is missing: the log was rolled back ({anchor.description}"
            f" records seal {entry.seal_id}, the database's newest is seal {newest})"
        )
    anchored = seals[entry.seal_id - 1].seal_hash if entry.seal_id else GENESIS
    if not hmac.compare_digest(anchored, entry.seal_hash):
        return f"seal {entry.seal_id} differs from {anchor.description}: the log was replaced"
    return None


def _orphans(session: Session, last: AuditSeal | None) -> str | None:
    orphan = session.scalar(
        sa.select(sa.func.min(AuditEvent.id)).where(AuditEvent.seal_id > (last.id if last else 0))
    )
    if orphan is not None:
        return f"event {orphan} claims a seal that does not exist"
    linked = session.scalar(
        sa.select(sa.func.min(AuditEventCustomer.event_id))
        .join(AuditEvent, AuditEvent.id == AuditEventCustomer.event_id)
        .where(AuditEvent.seal_id.is_(None))
    )
    if linked is not None:
        return f"event {linked} is not sealed yet but has customer links"
    return None


def _verify_unsealed(
    session: Session, key: bytes, report: VerifyReport, *, now: dt.datetime, limit: dt.timedelta
) -> str | None:
    """Events not sealed yet: each genuine, none a copy, none waiting longer than ``limit``."""
    rows = unsealed_rows(session)
    report.unsealed = len(rows)
    if not rows:
        return None
    problem, macs = _genuine(key, rows)
    if problem:
        return problem
    oldest = min(rows, key=lambda r: content_time(r.content))
    report.oldest_unsealed = content_time(oldest.content)
    repeats = repeated_elsewhere(session, set(macs), report.oldest_unsealed, None)
    if repeats:
        mac, original = min(repeats.items(), key=lambda item: macs[item[0]])
        return f"event {macs[mac]} repeats event {original}"
    if now - report.oldest_unsealed > limit:
        waited = int((now - report.oldest_unsealed).total_seconds())
        return (
            f"event {oldest.id} has waited {waited} s unsealed, longer than the limit of"
            f" {int(limit.total_seconds())} s: is the sealer running?"
        )
    return None


def _genuine(key: bytes, rows: Sequence[EventRow]) -> tuple[str | None, dict[bytes, int]]:
    """The first unsealed event that fails its MAC or repeats another, and the MACs seen."""
    seen: dict[bytes, int] = {}
    for row in rows:
        if row.mac is None:
            return f"event {row.id} is not sealed and carries no MAC", seen
        if not mac_holds(key, row.content, row.mac):
            return f"event {row.id} is not sealed and fails its MAC: it was altered or forged", seen
        if row.mac in seen:
            return f"event {row.id} repeats event {seen[row.mac]}", seen
        seen[row.mac] = row.id
    return None, seen
