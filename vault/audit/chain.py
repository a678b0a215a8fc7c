"""The hashes that chain the audit log, and the way its rows are read.

- Each event's leaf is SHA-256 over a domain tag and its canonical text: its id, its content
  (vault.audit.canonical), the seal it belongs to and, for events written since MACs exist,
  its MAC.
- A seal covers the events assigned to it: it keeps the list of (event id, leaf), the Merkle
  root over those leaves, and a hash chained to the previous seal (the genesis hash for the
  first).
- The head names the newest seal (seal 0, the genesis, in a new log), with an HMAC under the
  audit key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from vault.audit.canonical import content_sql

_LEAF = b"vault-audit-leaf/v1\x00"
_NODE = b"vault-audit-node/v1\x00"
_SEAL = b"vault-audit-seal/v1\x00"
_HEAD = b"vault-audit-head/v1\x00"
GENESIS = b"\x00" * 32
ENTRY = struct.Struct(">Q32s")  # event id, leaf
ENTRY_SIZE = ENTRY.size
HEAD_ID = 1


class EventRow(NamedTuple):
    """One event as verification reads it: straight from the driver's cursor."""

    id: int
    content: str
    customer_ids: str
    mac: bytes | None


def _select_rows(session: Session, where: str) -> list[EventRow]:
    connection = session.connection()
    content = content_sql(connection.dialect.name)
    sql = (
        f"SELECT id, {content}, customer_ids, mac FROM audit_events"  # noqa: S608  (constant SQL)
        f" WHERE {where} ORDER BY id"
    )
    cursor = connection.exec_driver_sql(sql).cursor
    assert cursor is not None
    return [EventRow(i, text, customers, bytes(mac) if mac is not None else None)
            for i, text, customers, mac in cursor.fetchall()]  # fmt: skip


def seal_rows(session: Session, seal_id: int) -> list[EventRow]:
    """Every event of seal ``seal_id``, in id order, read through the driver's own cursor (no
    per-row object mapping: verification reads every event)."""
    return _select_rows(session, f"seal_id = {int(seal_id)}")


def unsealed_rows(session: Session) -> list[EventRow]:
    """Every event not sealed yet, in id order."""
    return _select_rows(session, "seal_id IS NULL")


def leaf_text(row: EventRow, seal_id: int) -> str:
    """The canonical text of a sealed event. Events without a MAC (written before MACs
    existed) keep the text they were sealed with."""
    text = f"{row.id}\x1f{row.content}\x1f{seal_id}"
    return text if row.mac is None else f"{text}\x1f{row.mac.hex()}"


def leaf_hash(canonical: str) -> bytes:
    """The leaf of one event, from its canonical text."""
    return hashlib.sha256(_LEAF + canonical.encode()).digest()


def entries_of(rows: Sequence[EventRow], seal_id: int) -> bytes:
    """The (event id, leaf) list of a seal's events."""
    pack, sha256 = ENTRY.pack, hashlib.sha256
    return b"".join(pack(r.id, sha256(_LEAF + leaf_text(r, seal_id).encode()).digest())
                    for r in rows)  # fmt: skip


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


def entries_root(entries: bytes) -> bytes:
    return merkle_root([entries[i + 8 : i + 40] for i in range(0, len(entries), ENTRY_SIZE)])


def seal_hash(
    seal_id: int, count: int, root: bytes, previous: bytes, sealed_at: dt.datetime
) -> bytes:
    stamp = sealed_at.astimezone(dt.UTC).isoformat().encode()
    return hashlib.sha256(
        _SEAL + struct.pack(">QQ", seal_id, count) + root + previous + stamp
    ).digest()


def head_mac(key: bytes, seal_id: int, hash_: bytes) -> bytes:
    return hmac.new(key, _HEAD + struct.pack(">Q", seal_id) + hash_, hashlib.sha256).digest()


def expected_links(rows: Sequence[EventRow]) -> list[tuple[int, str]]:
    """The (event id, customer id) links that a seal's events call for, in the order the
    database lists them."""
    return [(r.id, customer) for r in rows for customer in sorted(r.customer_ids.split())]


def stored_links(session: Session, seal_id: int) -> list[tuple[int, str]]:
    """The links stored for seal ``seal_id``'s events, ordered by event id and customer id
    (byte order on both engines)."""
    connection = session.connection()
    collate = "" if connection.dialect.name == "sqlite" else ' COLLATE "C"'
    sql = (
        "SELECT l.event_id, l.customer_id FROM audit_event_customers l"  # noqa: S608
        " JOIN audit_events e ON e.id = l.event_id"
        f" WHERE e.seal_id = {int(seal_id)} ORDER BY l.event_id, l.customer_id{collate}"
    )
    cursor = connection.exec_driver_sql(sql).cursor
    assert cursor is not None
    rows: Sequence[Any] = cursor.fetchall()
    return [(int(event_id), customer) for event_id, customer in rows]
