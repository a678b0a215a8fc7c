"""Sealing and verification of the audit log.

- Each event's leaf is SHA-256 over a domain tag and its canonical form (every column,
  including the seal it belongs to).
- A seal covers the events assigned to it: it keeps the list of (event id, leaf), the Merkle
  root over those leaves, and a hash chained to the previous seal.
- The head names the newest seal, with an HMAC under a key derived from the master key.

So altering, deleting, inserting, duplicating or reordering any sealed event changes a leaf or
the id list; deleting the newest seals contradicts the head; and nobody without the key can
forge a new head.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import hashlib
import hmac
import multiprocessing
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.models import AuditEvent, AuditEventCustomer, AuditHead, AuditSeal
from vault.db import create_db_engine

AUDIT_KEY_LABEL = "vault/audit-head/v1"
_LEAF = b"vault-audit-leaf/v1\x00"
_NODE = b"vault-audit-node/v1\x00"
_SEAL = b"vault-audit-seal/v1\x00"
_HEAD = b"vault-audit-head/v1\x00"
_GENESIS = b"\x00" * 32
_ENTRY = struct.Struct(">Q32s")  # event id, leaf
HEAD_ID = 1

# The canonical text of an event is every column, unit-separated, built by the database
# itself (verification reads every event: one string per row is the fast way to read them).
# The timestamp is taken in UTC with microseconds on both engines. On SQLite one printf()
# builds the same text as a chain of || concatenations, a third faster (every column is
# NOT NULL, so the two cannot differ).
_CANONICAL_COLUMNS = (
    "actor_kind", "actor_id", "purpose", "action", "customer_ids", "field_names",
    "outcome", "reason", "request_id", "client_address",
)  # fmt: skip
_SQLITE_PARTS = ["id", "occurred_at", *_CANONICAL_COLUMNS, "seal_id"]
_SQLITE_CANONICAL = (
    "printf('" + "\x1f".join(["%s"] * len(_SQLITE_PARTS)) + "', " + ", ".join(_SQLITE_PARTS) + ")"
)
_POSTGRES_CANONICAL = " || chr(31) || ".join(
    [
        "id::text",
        "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
        *_CANONICAL_COLUMNS,
        "seal_id::text",
    ]
)


def _seal_rows(session: Session, seal_id: int) -> list[Any]:
    """(id, canonical text) of every event of seal ``seal_id``, in id order, read through the
    driver's own cursor (no per-row object mapping)."""
    connection = session.connection()
    canonical = _SQLITE_CANONICAL if connection.dialect.name == "sqlite" else _POSTGRES_CANONICAL
    sql = (
        f"SELECT id, {canonical} FROM audit_events"  # noqa: S608  (constant SQL, integer id)
        f" WHERE seal_id = {int(seal_id)} ORDER BY id"
    )
    cursor = connection.exec_driver_sql(sql).cursor
    assert cursor is not None
    return list(cursor.fetchall())


def leaf_hash(canonical: str) -> bytes:
    """The leaf of one event, from its canonical text."""
    return hashlib.sha256(_LEAF + canonical.encode()).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    level = list(leaves) or [hashlib.sha256(_NODE).digest()]
    while len(level) > 1:
        paired = [
            hashlib.sha256(_NODE + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def seal_hash(
    seal_id: int, count: int, root: bytes, previous: bytes, sealed_at: dt.datetime
) -> bytes:
    stamp = sealed_at.astimezone(dt.UTC).isoformat().encode()
    return hashlib.sha256(
        _SEAL + struct.pack(">QQ", seal_id, count) + root + previous + stamp
    ).digest()


def head_mac(key: bytes, seal_id: int, hash_: bytes) -> bytes:
    return hmac.new(key, _HEAD + struct.pack(">Q", seal_id) + hash_, hashlib.sha256).digest()


def _entries_root(entries: bytes) -> bytes:
    return merkle_root([entries[i + 8 : i + 40] for i in range(0, len(entries), 40)])


# --- sealing ---------------------------------------------------------------------------------


@dataclasses.dataclass
class SealReport:
    seals: int
    events: int


def seal_pending_events(
    session: Session, key: bytes, *, now: dt.datetime, batch_size: int = 50_000
) -> SealReport:
    """Seal every event not yet sealed, ``batch_size`` per seal, committing each seal.

    Only sealers write the head, so concurrent requests never wait on it; two sealers
    serialise on the head row.
    """
    report = SealReport(0, 0)
    while True:
        head = session.execute(
            sa.select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
        ).scalar_one_or_none()
        last_id = session.scalar(
            sa.select(AuditEvent.id)
            .where(AuditEvent.seal_id.is_(None))
            .order_by(AuditEvent.id)
            .offset(batch_size - 1)
            .limit(1)
        ) or session.scalar(
            sa.select(sa.func.max(AuditEvent.id)).where(AuditEvent.seal_id.is_(None))
        )
        if last_id is None:
            session.commit()
            return report
        seal_id = (head.seal_id if head else 0) + 1
        previous = head.seal_hash if head else _GENESIS
        session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.seal_id.is_(None), AuditEvent.id <= last_id)
            .values(seal_id=seal_id)
        )
        link_customers(session, seal_id)
        rows = _seal_rows(session, seal_id)
        entries = b"".join(_ENTRY.pack(r[0], leaf_hash(r[1])) for r in rows)
        root = _entries_root(entries)
        hash_ = seal_hash(seal_id, len(rows), root, previous, now)
        session.add(
            AuditSeal(
                id=seal_id,
                sealed_at=now,
                event_count=len(rows),
                first_event_id=rows[0][0],
                last_event_id=rows[-1][0],
                merkle_root=root,
                previous_hash=previous,
                seal_hash=hash_,
                entries=entries,
            )
        )
        mac = head_mac(key, seal_id, hash_)
        if head is None:
            session.add(AuditHead(id=HEAD_ID, seal_id=seal_id, seal_hash=hash_, mac=mac))
        else:
            head.seal_id, head.seal_hash, head.mac = seal_id, hash_, mac
        session.commit()
        report.seals += 1
        report.events += len(rows)


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


# --- verification ----------------------------------------------------------------------------


@dataclasses.dataclass
class VerifyReport:
    ok: bool
    seals: int
    events: int
    unsealed: int
    problem: str | None = None  # the first bad position, in words

    def fail(self, problem: str) -> VerifyReport:
        self.ok, self.problem = False, problem
        return self


def _unexpected(expected: Iterable[int], found: Iterable[int]) -> str:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        return f"event {missing[0]} is missing"
    return f"event {extra[0]} was added"


def verify_audit_log(
    session: Session, key: bytes, *, jobs: int = 1, database_url: str | None = None
) -> VerifyReport:
    """Check every seal, every sealed event and the head; report the first problem in log
    order. With ``jobs`` > 1 (and the ``database_url`` of committed data) the events of the
    seals are checked by that many processes."""
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
    last = passed[-1] if passed else None
    report.seals = len(passed)
    report.events = sum(seal.event_count for seal in passed)
    if problem is None:
        problem = _verify_head(session, key, last) or _orphans(session, last)
    if problem:
        return report.fail(problem)
    report.unsealed = (
        session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.seal_id.is_(None))
        )
        or 0
    )
    return report


def _orphans(session: Session, last: AuditSeal | None) -> str | None:
    orphan = session.scalar(
        sa.select(sa.func.min(AuditEvent.id)).where(AuditEvent.seal_id > (last.id if last else 0))
    )
    return f"event {orphan} claims a seal that does not exist" if orphan is not None else None


def _verify_seal_chain(session: Session) -> tuple[str | None, list[AuditSeal]]:
    """Walk the seals (not their events); returns the first problem and the good seals
    before it."""
    previous, expected_id = _GENESIS, 1
    good: list[AuditSeal] = []
    for seal in session.scalars(sa.select(AuditSeal).order_by(AuditSeal.id)):
        if seal.id != expected_id:
            return f"seal {expected_id} is missing", good
        recomputed = seal_hash(
            seal.id, seal.event_count, seal.merkle_root, seal.previous_hash, seal.sealed_at
        )
        if (
            seal.previous_hash != previous
            or seal.seal_hash != recomputed
            or len(seal.entries) != 40 * seal.event_count
        ):
            return f"seal {seal.id} was altered", good
        good.append(seal)
        previous, expected_id = seal.seal_hash, expected_id + 1
    return None, good


SealWork = tuple[int, bytes, bytes]  # seal id, its (event id, leaf) entries, its Merkle root


def _verify_events(session: Session, work: Sequence[SealWork]) -> tuple[int, str] | None:
    """The first (seal id, problem) among ``work``'s seals, in order, or None: the entries
    must hash to the seal's root, and the events to the entries."""
    for seal_id, entries, root in work:
        if _entries_root(entries) != root:
            return seal_id, f"seal {seal_id} was altered"
        problem = _verify_seal_events(session, seal_id, entries)
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


def _verify_head(session: Session, key: bytes, last: AuditSeal | None) -> str | None:
    head = session.get(AuditHead, HEAD_ID)
    if head is None:
        return "the audit head is missing" if last is not None else None
    if not hmac.compare_digest(head.mac, head_mac(key, head.seal_id, head.seal_hash)):
        return "the audit head does not carry a valid signature"
    if last is None or head.seal_id != last.id or head.seal_hash != last.seal_hash:
        return f"seal {(last.id if last else 0) + 1} is missing: the log was truncated"
    return None


def _verify_seal_events(session: Session, seal_id: int, sealed_entries: bytes) -> str | None:
    entries = list(_ENTRY.iter_unpack(sealed_entries))
    rows = _seal_rows(session, seal_id)
    pack, sha256 = _ENTRY.pack, hashlib.sha256
    recomputed = b"".join(pack(i, sha256(_LEAF + text.encode()).digest()) for i, text in rows)
    # The seal's entries are authenticated by its root: an exact match proves every event;
    # only a mismatch needs the search for where it is.
    if hmac.compare_digest(recomputed, sealed_entries):
        return None
    for (expected_id, expected_leaf), row in zip(entries, rows, strict=False):
        if row[0] != expected_id:
            return _unexpected([e[0] for e in entries], [r[0] for r in rows])
        if not hmac.compare_digest(leaf_hash(row[1]), expected_leaf):
            return f"event {expected_id} was altered"
    if len(rows) != len(entries):
        return _unexpected([e[0] for e in entries], [r[0] for r in rows])
    return None
