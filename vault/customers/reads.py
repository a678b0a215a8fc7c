"""What a read of customers gives (``CustomerRecord``, with its record's version) and the
prebuilt statements that read them (``vault.customers.service``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import sqlalchemy as sa

from vault.customers.index_rows import HOLDERS_QUERY
from vault.customers.models import Customer
from vault.db_rows import DriverSelect


@dataclasses.dataclass(slots=True)
class CustomerRecord:
    id: str
    region: str
    status: str
    values: dict[str, Any]
    # Read only when asked for (``with_times``): parsing them is a measurable part of a page.
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    last_activity_at: dt.datetime | None = None
    relationship_ended_at: dt.datetime | None = None
    sealed_values: bytes | None = None  # as stored (ciphertext), for ``version``

    @property
    def version(self) -> str:
        """The version of the stored record (``record_version``): an ETag. Worked out when
        asked for (a single customer's read), not for every record of a page."""
        return record_version(self)


def record_version(row: Any) -> str:
    """The version of a customer's stored record (a row with its region, status, sealed
    values and relationship end): it changes with any of them. A digest of ciphertext,
    which tells nothing of the values."""
    ended = row.relationship_ended_at
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{row.region}|{row.status}|{ended.isoformat() if ended else ''}|".encode())
    digest.update(row.sealed_values or b"")
    return digest.hexdigest()


_TIMES = {"created_at", "updated_at", "last_activity_at"}
CUSTOMER_COLUMNS = (
    Customer.id,
    Customer.region,
    Customer.status,
    Customer.created_at,
    Customer.updated_at,
    Customer.last_activity_at,
    Customer.wrapped_key,
    Customer.kek_version,
    Customer.dek_version,
    Customer.sealed_values,
    Customer.relationship_ended_at,
)
READ_COLUMNS = tuple(c for c in CUSTOMER_COLUMNS if c.key not in _TIMES)
# Built once: constructing the statement is a measurable part of reading a page.
_READ_ACTIVE = sa.select(*READ_COLUMNS).where(Customer.status == "active")
_READ_ACTIVE_WITH_TIMES = sa.select(*CUSTOMER_COLUMNS).where(Customer.status == "active")
_IDS = Customer.id.in_(sa.bindparam("ids", expanding=True))
READ, READ_WITH_TIMES = _READ_ACTIVE.where(_IDS), _READ_ACTIVE_WITH_TIMES.where(_IDS)
# One customer (a GET): no list to expand into the statement on every execution.
_ONE = Customer.id == sa.bindparam("id")
READ_ONE, READ_ONE_WITH_TIMES = _READ_ACTIVE.where(_ONE), _READ_ACTIVE_WITH_TIMES.where(_ONE)
# A search's matches (index_rows.Holders), in id order: the same statement object every
# time, so that SQLAlchemy neither builds nor adapts it per request.
_HELD = Customer.id.in_(HOLDERS_QUERY)
READ_HELD = _READ_ACTIVE.where(_HELD).order_by(Customer.id)
READ_HELD_WITH_TIMES = _READ_ACTIVE_WITH_TIMES.where(_HELD).order_by(Customer.id)
# The reads above that narrowing leaves as they are (no region, no row filter), read on the
# driver's cursor (vault.db_rows): SQLAlchemy's execution was most of a GET's read.
ON_THE_DRIVER = {
    id(query): DriverSelect(query)
    for query in (READ_ONE, READ_ONE_WITH_TIMES, READ_HELD, READ_HELD_WITH_TIMES)
}
