"""A customer's export (GDPR Art. 15): a ZIP written as it streams, so memory stays flat however
long the history.

- ``data.json``: the customer (every field in clear), consents with their history,
  interactions, privacy requests, and from the audit trail who accessed the data, for which
  purpose and when (Art. 15(1)(c));
- the same as CSV: ``fields.csv``, ``consents.csv``, ``interactions.csv``,
  ``privacy_requests.csv``, ``accesses.csv``;
- ``manifest.json``: each file's SHA-256 and size, signed (HMAC-SHA256 under a key derived
  from the master key), so the vault can confirm later that an export is genuine and whole
  (``POST /privacy/manifests/verify``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa

from vault.audit.query import accesses_of_customer
from vault.auth.models import ApiClient
from vault.customers.interactions import interaction_dict
from vault.customers.models import Interaction
from vault.customers.service import CustomerStore
from vault.governance.models import ConsentEvent, PrivacyRequest
from vault.privacy.documents import sign
from vault.spreadsheet import spreadsheet_safe

CHUNK_ROWS = 500
FLUSH_BYTES = 64 * 1024
MANIFEST_FORMAT = "vault export manifest v1"

Dated = TypeVar("Dated", ConsentEvent, Interaction)


class _Spool:
    """A write-only, unseekable file for ``zipfile``: what it writes is drained as it goes
    (zipfile then writes sizes after each member instead of seeking back)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._written = 0
        self.pending = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._written += len(data)
        self.pending += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        """Nothing to flush: ``drain`` hands the bytes on."""

    def close(self) -> None:
        """Nothing to close: the stream ends with the generator."""

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        self.pending = 0
        return data


class Export:
    """The export of one customer for one verified request."""

    def __init__(self, store: CustomerStore, request_id: str, customer_id: str) -> None:
        self.store = store
        self.session = store.session
        self.customer_id = customer_id
        self.request_id = request_id
        self.now = store.now
        self._cipher: Any = None
        self._clients: dict[str, str] = {}
        self._decrypted: Any = None

    # --- the archive -------------------------------------------------------------------

    def stream(self) -> Iterator[bytes]:
        """The ZIP, chunk by chunk."""
        spool = _Spool()
        files: list[dict[str, Any]] = []
        stamp = self.now.astimezone(dt.UTC).timetuple()[:6]
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, chunks in self._members():
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                digest, size = hashlib.sha256(), 0
                with archive.open(info, "w") as member:
                    for chunk in chunks:
                        member.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if spool.pending >= FLUSH_BYTES:
                            yield spool.drain()
                files.append({"name": name, "sha256": digest.hexdigest(), "bytes": size})
            info = zipfile.ZipInfo("manifest.json", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, json.dumps(self.manifest(files), indent=2) + "\n")
        yield spool.drain()

    def manifest(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        document = {
            "format": MANIFEST_FORMAT,
            "request_id": self.request_id,
            "customer_id": self.customer_id,
            "generated_at": self.now.isoformat(),
            "files": files,
        }
        return {
            **document,
            "signature": {"algorithm": "HMAC-SHA256", "value": sign(self.store, document)},
        }

    def _members(self) -> Iterator[tuple[str, Iterable[bytes]]]:
        yield "data.json", self._data_json()
        yield "fields.csv", _csv(["field", "value"], self._field_rows())
        yield "consents.csv", _dicts_csv(CONSENT_COLUMNS, self._consents())
        yield "interactions.csv", _dicts_csv(INTERACTION_COLUMNS, self._interactions())
        yield "privacy_requests.csv", _dicts_csv(REQUEST_COLUMNS, self._requests())
        yield "accesses.csv", _dicts_csv(ACCESS_COLUMNS, self._accesses())

    def _data_json(self) -> Iterator[bytes]:
        record = self._record()
        head = {
            "export": {"request_id": self.request_id, "generated_at": self.now.isoformat()},
            "customer": {
                "id": record.id,
                "region": record.region,
                "created_at": _iso(record.created_at),
                "updated_at": _iso(record.updated_at),
                "last_activity_at": _iso(record.last_activity_at),
                "relationship_ended_at": _iso(record.relationship_ended_at),
            },
            "fields": record.values,
        }
        opening = json.dumps(head, indent=2, ensure_ascii=False)[:-2]  # drop the closing "\n}"
        yield opening.encode()
        sections: list[tuple[str, Callable[[], Iterator[dict[str, Any]]]]] = [
            ("consents", self._consents),
            ("interactions", self._interactions),
            ("privacy_requests", self._requests),
            ("accesses", self._accesses),
        ]
        for key, items in sections:
            yield f',\n  "{key}": ['.encode()
            buffer: list[str] = []
            for n, item in enumerate(items()):
                buffer.append(
                    ("" if n == 0 else ",") + "\n    " + json.dumps(item, ensure_ascii=False)
                )
                if len(buffer) >= CHUNK_ROWS:
                    yield "".join(buffer).encode()
                    buffer.clear()
            buffer.append("\n  ]")
            yield "".join(buffer).encode()
        yield b"\n}\n"

    # --- the data ----------------------------------------------------------------------

    def _record(self) -> Any:
        """The customer with every field decrypted, once for data.json and fields.csv."""
        if self._decrypted is None:
            self._decrypted = self.store.read_one(
                self.customer_id, self.store.catalogue.fields, with_times=True
            )
        return self._decrypted

    def _field_rows(self) -> Iterator[list[Any]]:
        for name, value in sorted(self._record().values.items()):
            yield [
                name,
                json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value,
            ]

    def _decrypt(self, label: str, ciphertext: bytes | None) -> str | None:
        if ciphertext is None:
            return None
        if self._cipher is None:
            self._cipher = self.store.cipher_for(self.customer_id)
        plain: bytes = self._cipher.decrypt(label, ciphertext)
        return plain.decode()

    def _oldest_first(self, model: type[Dated]) -> Iterator[Dated]:
        """The customer's consent events or interactions, oldest first, read in chunks."""
        query = (
            sa.select(model)
            .where(model.customer_id == self.customer_id)
            .order_by(model.occurred_at, model.id)
            .execution_options(yield_per=CHUNK_ROWS)
        )
        return iter(self.session.scalars(query))

    def _consents(self) -> Iterator[dict[str, Any]]:
        for event in self._oldest_first(ConsentEvent):
            yield {
                "purpose": event.purpose_code,
                "granted": event.granted,
                "occurred_at": event.occurred_at.isoformat(),
                "source": event.source,
                "notice_version": event.notice_version,
                "evidence": self._decrypt(
                    f"consent:{event.id}:evidence", event.evidence_ciphertext
                ),
            }

    def _interactions(self) -> Iterator[dict[str, Any]]:
        for item in self._oldest_first(Interaction):
            text = self._decrypt(f"interaction:{item.id}:text", item.text_ciphertext)
            yield interaction_dict(item, text)

    def _requests(self) -> Iterator[dict[str, Any]]:
        query = (
            sa.select(PrivacyRequest)
            .where(PrivacyRequest.customer_id == self.customer_id)
            .order_by(PrivacyRequest.received_at, PrivacyRequest.id)
        )
        for request in self.session.scalars(query):
            yield {
                "id": request.id,
                "type": request.type,
                "status": request.status,
                "channel": request.channel,
                "received_at": request.received_at.isoformat(),
                "due_at": request.due_at.isoformat(),
                "completed_at": _iso(request.completed_at),
            }

    def _accesses(self) -> Iterator[dict[str, Any]]:
        for access in accesses_of_customer(self.session, self.customer_id, chunk=CHUNK_ROWS):
            yield {
                "when": access["when"],
                "by": self._actor(access["actor_kind"], access["actor_id"]),
                "purpose": access["purpose"],
                "action": access["action"],
                "fields": " ".join(access["field_names"]),
            }

    def _actor(self, kind: str, actor_id: str) -> str:
        """A consumer system by its name; staff by role of principal, never by name."""
        if kind == "client":
            if actor_id not in self._clients:
                name = self.session.scalar(
                    sa.select(ApiClient.name).where(ApiClient.id == actor_id)
                )
                self._clients[actor_id] = f"system {name or actor_id}"
            return self._clients[actor_id]
        return {"user": "a staff member", "subject": "you (privacy portal)"}.get(kind, kind)


CONSENT_COLUMNS = ["purpose", "granted", "occurred_at", "source", "notice_version", "evidence"]
INTERACTION_COLUMNS = ["id", "kind", "channel", "occurred_at", "amount", "currency", "text"]
REQUEST_COLUMNS = ["id", "type", "status", "channel", "received_at", "due_at", "completed_at"]
ACCESS_COLUMNS = ["when", "by", "purpose", "action", "fields"]


def _dicts_csv(columns: list[str], items: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """``_csv`` of dictionaries: a column for each of ``columns``, in that order."""
    return _csv(columns, ([item[c] for c in columns] for item in items))


def _csv(header: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
