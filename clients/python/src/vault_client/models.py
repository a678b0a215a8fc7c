"""What the vault answers, as typed values."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from vault_client.errors import VaultError, error_for


def _time(text: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(text)) if text else None


@dataclasses.dataclass(frozen=True, slots=True)
class FieldValue:
    """A field of a scoped view: its value as the caller may see it, and how it was shown
    (``none``, ``mask``, ``year``, ``pseudonym``, ...)."""

    value: Any
    transform: str


@dataclasses.dataclass(frozen=True, slots=True)
class Customer:
    """A customer as the caller may see it for the purpose of the call. ``withheld`` names
    the fields it may not see; ``etag`` is the record's version (from a single read or an
    update) for ``update_customer(..., if_match=...)``."""

    id: str
    region: str
    fields: dict[str, FieldValue]
    withheld: list[str]
    relationship_ended_at: dt.datetime | None = None
    etag: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any], etag: str | None = None) -> Customer:
        return cls(
            id=str(body["id"]),
            region=str(body["region"]),
            fields={
                name: FieldValue(shown.get("value"), str(shown.get("transform", "none")))
                for name, shown in (body.get("fields") or {}).items()
            },
            withheld=list(body.get("withheld") or []),
            relationship_ended_at=_time(body.get("relationship_ended_at")),
            etag=etag,
        )

    def value(self, name: str, default: Any = None) -> Any:
        """The shown value of the field ``name`` (``default`` when it is not shown)."""
        shown = self.fields.get(name)
        return default if shown is None else shown.value


@dataclasses.dataclass(frozen=True, slots=True)
class BatchItem:
    """One item of a batch create: ``customer`` when it was created (``status`` 201),
    ``error`` when it was refused."""

    index: int
    status: int
    customer: Customer | None = None
    error: VaultError | None = None

    @property
    def ok(self) -> bool:
        return self.customer is not None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> BatchItem:
        index, status = int(body["index"]), int(body["status"])
        if status == 201:
            return cls(index, status, customer=Customer.from_body(body["customer"]))
        problem = {k: v for k, v in body.items() if k != "index"}
        return cls(index, status, error=error_for(status, problem))


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """An event of the feed (or of a webhook): ids and field names, never values."""

    id: str
    type: str
    occurred_at: dt.datetime | None
    customer_id: str | None
    fields: list[str]
    purpose: str | None
    data: dict[str, Any]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Event:
        return cls(
            id=str(body["id"]),
            type=str(body["type"]),
            occurred_at=_time(body.get("occurred_at")),
            customer_id=body.get("customer_id"),
            fields=list(body.get("fields") or []),
            purpose=body.get("purpose"),
            data=dict(body.get("data") or {}),
        )
