"""Anchors: where every new audit head is written outside the database.

The database alone cannot prove it is complete: an older copy of it (a restored backup, a
rolled-back head row) is internally consistent. So each head the sealer writes is also
appended to an anchor that the database cannot rewrite, and verification fails when the
database's head is older than the anchor's newest entry (DESIGN.md, "Audit").

Two anchors, chosen by ``VAULT_AUDIT_ANCHOR``:

- ``file:<path>`` (the default, ``instance/audit-anchor.log`` beside the key file): one line
  per head, appended with ``O_APPEND``, mode 0600. Make it append-only in production
  (``chattr +a``, or a file system that offers write-once storage).
- an SQLAlchemy URL (``postgresql://anchor@host/db``): one row per head in
  ``audit_anchor``, written through a database role that may INSERT and SELECT but neither
  UPDATE nor DELETE (README, "Security").

Each entry carries an HMAC under the audit key, so entries cannot be forged; the newest one
is the entry with the highest seal number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import os
import struct
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from vault.db import create_db_engine
from vault.errors import ConfigurationError, VaultError

_ANCHOR_TAG = b"vault-audit-anchor/v1\x00"
_TAIL_BYTES = 64 * 1024  # the newest entries are at the end; a line is about 200 bytes


class AnchorUnavailable(
    VaultError, status=503, code="audit_anchor_unavailable", title="Audit Anchor Unavailable"
):
    """The anchor cannot be read or written."""


@dataclasses.dataclass(frozen=True, slots=True)
class AnchorEntry:
    seal_id: int
    seal_hash: bytes
    anchored_at: dt.datetime


def anchor_mac(key: bytes, seal_id: int, seal_hash: bytes) -> bytes:
    message = _ANCHOR_TAG + struct.pack(">Q", seal_id) + seal_hash
    return hmac.new(key, message, hashlib.sha256).digest()


class AuditAnchor(Protocol):
    """An append-only record of audit heads, outside the audit log's database."""

    description: str

    def append(self, seal_id: int, seal_hash: bytes, *, now: dt.datetime) -> None:
        """Record that the head is now seal ``seal_id`` with ``seal_hash``. Raises
        ``AnchorUnavailable``."""
        ...

    def newest(self) -> AnchorEntry | None:
        """The entry with the highest seal number, or None when the anchor holds none.
        Raises ``AnchorUnavailable`` when it cannot be read, and ``AnchorAltered`` when an
        entry does not carry a valid MAC."""
        ...


class AnchorAltered(VaultError, code="audit_anchor_altered", title="Audit Anchor Altered"):
    """An anchor entry that the vault did not write."""


class FileAnchor:
    """Heads appended as JSON lines to a file (mode 0600)."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self.key = key
        self.description = f"the anchor file {path}"

    def append(self, seal_id: int, seal_hash: bytes, *, now: dt.datetime) -> None:
        line = json.dumps(
            {
                "seal": seal_id,
                "hash": seal_hash.hex(),
                "at": now.astimezone(dt.UTC).isoformat(),
                "mac": anchor_mac(self.key, seal_id, seal_hash).hex(),
            },
            separators=(",", ":"),
        )
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AnchorUnavailable(
                f"cannot append to {self.description} ({exc.strerror or type(exc).__name__})"
            ) from exc

    def newest(self) -> AnchorEntry | None:
        try:
            with self.path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                start = max(0, size - _TAIL_BYTES)
                handle.seek(start)
                tail = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AnchorUnavailable(
                f"cannot read {self.description} ({exc.strerror or type(exc).__name__})"
            ) from exc
        lines = tail.split(b"\n")
        if start > 0:
            lines = lines[1:]  # the first line of the tail may be cut
        # The last element is empty when the file ends with a newline; a line cut by a crash
        # while it was being written has none and is not an entry yet.
        lines = lines[:-1]
        entries = [self._parse(raw) for raw in lines if raw.strip()]
        return max(entries, key=lambda e: e.seal_id) if entries else None

    def _parse(self, raw: bytes) -> AnchorEntry:
        try:
            item = json.loads(raw)
            seal_id, seal_hash = int(item["seal"]), bytes.fromhex(item["hash"])
            mac, at = bytes.fromhex(item["mac"]), dt.datetime.fromisoformat(item["at"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AnchorAltered(f"{self.description} holds a line the vault did not write") from exc
        if not hmac.compare_digest(mac, anchor_mac(self.key, seal_id, seal_hash)):
            raise AnchorAltered(f"{self.description} holds an entry with an invalid signature")
        return AnchorEntry(seal_id, seal_hash, at)


_anchor_metadata = sa.MetaData()
anchor_table = sa.Table(
    "audit_anchor",
    _anchor_metadata,
    sa.Column("seal_id", sa.BigInteger, nullable=False),
    sa.Column("seal_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("mac", sa.LargeBinary(32), nullable=False),
    sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_audit_anchor_seal_id", "seal_id"),
)


class DatabaseAnchor:
    """Heads inserted as rows of ``audit_anchor`` in a database of their own (reached through
    a role that cannot update or delete them)."""

    def __init__(self, url: str, key: bytes) -> None:
        self.engine = create_db_engine(url)
        self.key = key
        self.description = f"the anchor table at {self.engine.url.render_as_string()}"

    def create_table(self) -> None:
        """Create ``audit_anchor`` (by an owner role, once)."""
        _anchor_metadata.create_all(self.engine)

    def append(self, seal_id: int, seal_hash: bytes, *, now: dt.datetime) -> None:
        row = {"seal_id": seal_id, "seal_hash": seal_hash, "anchored_at": now,
               "mac": anchor_mac(self.key, seal_id, seal_hash)}  # fmt: skip
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(anchor_table), row)
        except sa.exc.SQLAlchemyError as exc:
            raise AnchorUnavailable(f"cannot write to {self.description}") from exc

    def newest(self) -> AnchorEntry | None:
        query = sa.select(anchor_table).order_by(anchor_table.c.seal_id.desc()).limit(1)
        try:
            with self.engine.connect() as connection:
                row = connection.execute(query).first()
        except sa.exc.SQLAlchemyError as exc:
            raise AnchorUnavailable(f"cannot read {self.description}") from exc
        if row is None:
            return None
        seal_hash, mac = bytes(row.seal_hash), bytes(row.mac)
        if not hmac.compare_digest(mac, anchor_mac(self.key, row.seal_id, seal_hash)):
            raise AnchorAltered(f"{self.description} holds an entry with an invalid signature")
        return AnchorEntry(row.seal_id, seal_hash, row.anchored_at)

    def dispose(self) -> None:
        self.engine.dispose()


def open_anchor(spec: str, default_file: Path, key: bytes) -> AuditAnchor:
    """The anchor ``spec`` names (``file:<path>``, an SQLAlchemy URL, or empty for
    ``default_file``). Raises ``ConfigurationError`` for anything else."""
    if not spec:
        return FileAnchor(default_file, key)
    if spec.startswith("file:"):
        return FileAnchor(Path(spec.removeprefix("file:")), key)
    if "://" in spec:
        return DatabaseAnchor(spec, key)
    raise ConfigurationError("VAULT_AUDIT_ANCHOR must be file:<path> or a database URL")
