"""The blind-index rows of customers: a digest per searchable value, and for unique fields
the digest the database keeps unique, so that two customers can never share an address even
when two writers race (the loser learns from the index who holds the value)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.crypto.blind_index import BlindIndex
from vault.customers.catalogue import Catalogue, Normalised
from vault.customers.models import BlindIndexEntry, Customer
from vault.errors import Conflict

_INDEX = BlindIndexEntry.metadata.tables[BlindIndexEntry.__tablename__]


class DuplicateCustomer(Conflict, code="duplicate_customer"):
    """A unique field's value belongs to another customer. ``existing_id`` is for the API
    layer, which shows it only to a caller who may see that customer."""

    def __init__(self, field: str, existing_id: str | None) -> None:
        super().__init__(f"another customer already has this {field}")
        self.field = field
        self.existing_id = existing_id


@dataclasses.dataclass(frozen=True, slots=True)
class Holders:
    """The customers (of any status) whose ``field`` has ``digest`` in the blind index: the
    ids the statement that reads them selects in a subquery (``QUERY``, built once, with
    these two as its parameters)."""

    field: str
    digest: bytes

    def params(self) -> dict[str, Any]:
        return {"holders_field": self.field, "holders_digest": self.digest}


HOLDERS_QUERY = sa.select(_INDEX.c.customer_id).where(
    _INDEX.c.field_name == sa.bindparam("holders_field"),
    _INDEX.c.digest == sa.bindparam("holders_digest"),
)


class IndexRows:
    def __init__(self, session: Session, catalogue: Catalogue, index: BlindIndex) -> None:
        self.session = session
        self.catalogue = catalogue
        self.index = index

    def taken(self, field: str, digests: Collection[bytes]) -> dict[bytes, str]:
        """Which of these digests of the unique ``field`` belong to a customer already:
        digest -> customer id."""
        if not digests:
            return {}
        rows = self.session.connection().execute(
            sa.select(_INDEX.c.unique_digest, _INDEX.c.customer_id).where(
                _INDEX.c.field_name == field, _INDEX.c.unique_digest.in_(sorted(digests))
            )
        )
        return {bytes(digest): customer_id for digest, customer_id in rows}

    def active_holders(self, field: str, digest: bytes) -> list[str]:
        """Ids of the active customers whose ``field`` has this digest, in id order."""
        query = (
            sa.select(_INDEX.c.customer_id)
            .join(Customer, Customer.id == _INDEX.c.customer_id)
            .where(
                _INDEX.c.field_name == field,
                _INDEX.c.digest == digest,
                Customer.status == "active",
            )
            .order_by(_INDEX.c.customer_id)
        )
        return list(self.session.scalars(query))

    def digests(self, values: Mapping[str, Normalised]) -> dict[str, bytes]:
        """The blind-index digest of each searchable value."""
        return {
            name: self.index.digest(name, value.index_input)
            for name, value in values.items()
            if value.index_input is not None
        }

    def rows(self, customer_id: str, digests: Mapping[str, bytes]) -> list[dict[str, Any]]:
        fields = self.catalogue.fields
        return [
            {
                "customer_id": customer_id,
                "field_name": name,
                "digest": digest,
                "unique_digest": digest if fields[name].unique else None,
            }
            for name, digest in digests.items()
        ]

    def replace(self, customer_id: str, names: Sequence[str], rows: list[dict[str, Any]]) -> None:
        """The rows of ``customer_id``'s fields ``names`` become ``rows``."""
        self.session.connection().execute(
            sa.delete(_INDEX).where(
                _INDEX.c.customer_id == customer_id, _INDEX.c.field_name.in_(names)
            )
        )
        self.insert(rows)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            # In a savepoint: after a clash the transaction can still say whose value it is.
            with self.session.begin_nested():
                self.session.connection().execute(sa.insert(_INDEX), rows)
        except IntegrityError:
            # Another transaction took a unique value between our check and our insert (and
            # has committed it: the insert waited for it); the request fails as a conflict.
            field, holder = self._holder(rows)
            raise DuplicateCustomer(field, holder) from None

    def _holder(self, rows: list[dict[str, Any]]) -> tuple[str, str | None]:
        """The first unique field of ``rows`` whose value another customer holds, and that
        customer (``None`` if none is found: the clash was inside ``rows``)."""
        ours = {str(r["customer_id"]) for r in rows}
        unique = [r for r in rows if r["unique_digest"] is not None]
        for row in unique:
            holder = self.session.scalar(
                sa.select(_INDEX.c.customer_id)
                .where(
                    _INDEX.c.field_name == row["field_name"],
                    _INDEX.c.unique_digest == row["unique_digest"],
                    _INDEX.c.customer_id.not_in(sorted(ours)),
                )
                .limit(1)
            )
            if holder is not None:
                return str(row["field_name"]), holder
        return str(unique[0]["field_name"]) if unique else "value", None

    def check(self, batch: Sequence[Mapping[str, bytes]], *, exclude: str | None) -> None:
        """One query per unique field for a whole batch of digests; duplicates inside the
        batch count too."""
        wanted: dict[str, set[bytes]] = {}
        for customer_digests in batch:
            for name, digest in customer_digests.items():
                if not self.catalogue[name].unique:
                    continue
                digests = wanted.setdefault(name, set())
                if digest in digests:
                    raise DuplicateCustomer(name, None)
                digests.add(digest)
        for name, digests in wanted.items():
            query = sa.select(_INDEX.c.customer_id).where(
                _INDEX.c.field_name == name, _INDEX.c.unique_digest.in_(sorted(digests))
            )
            if exclude is not None:
                query = query.where(_INDEX.c.customer_id != exclude)
            existing = self.session.scalar(query.limit(1))
            if existing is not None:
                raise DuplicateCustomer(name, existing)
