"""Customer records: create, read a chosen set of fields (decrypting only those), update,
list with a cursor, search through blind indexes, and crypto-shred.

A ``CustomerStore`` serves one request or command: it flushes, the caller commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.crypto.blind_index import BLIND_INDEX_LABEL, BlindIndex
from vault.crypto.cursors import CURSOR_KEY_LABEL, CursorSigner
from vault.crypto.envelope import DecryptionFailed, FieldCipher, KeyRing, WrappedKey
from vault.customers import packing
from vault.customers.catalogue import Catalogue, Normalised, normalise_search_input
from vault.customers.models import BlindIndexEntry, Customer
from vault.db import UTCDateTime
from vault.errors import Conflict, NotFound, ValidationFailed

DEFAULT_REGIONS = frozenset({"EU", "UK", "US", "APAC"})
MAX_PAGE = 500
LISTING = "customers"  # what the list's cursors are bound to


class DuplicateCustomer(Conflict):
    """A unique field's value belongs to another customer. ``existing_id`` is for the API
    layer, which shows it only to a caller who may see that customer."""

    code = "duplicate_customer"

    def __init__(self, field: str, existing_id: str | None) -> None:
        super().__init__(f"another customer already has this {field}")
        self.field = field
        self.existing_id = existing_id


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


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    ids: list[str]
    next_cursor: str | None


def new_customer_id() -> str:
    return "cus_" + secrets.token_hex(16)


_TIMES = {"created_at", "updated_at", "last_activity_at"}
_CUSTOMER_COLUMNS = (
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
_READ_COLUMNS = tuple(c for c in _CUSTOMER_COLUMNS if c.key not in _TIMES)
# Built once: constructing the statement is a measurable part of reading a page.
_READ = sa.select(*_READ_COLUMNS).where(
    Customer.id.in_(sa.bindparam("ids", expanding=True)), Customer.status == "active"
)
_READ_WITH_TIMES = sa.select(*_CUSTOMER_COLUMNS).where(
    Customer.id.in_(sa.bindparam("ids", expanding=True)), Customer.status == "active"
)
_RAW_CREATED = sa.type_coerce(Customer.created_at, sa.String())


def _utc(value: Any) -> dt.datetime:
    """A timestamp as the driver returned it (text on SQLite), as ``UTCDateTime`` reads it."""
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    aware: dt.datetime | None = UTCDateTime().process_result_value(parsed, None)
    assert aware is not None
    return aware


_CUSTOMERS = Customer.metadata.tables[Customer.__tablename__]
_INDEX = BlindIndexEntry.metadata.tables[BlindIndexEntry.__tablename__]


class CustomerStore:
    def __init__(
        self,
        session: Session,
        keyring: KeyRing,
        catalogue: Catalogue,
        *,
        now: dt.datetime,
        regions: Collection[str] = DEFAULT_REGIONS,
    ) -> None:
        self.session = session
        self.keyring = keyring
        self.catalogue = catalogue
        self.now = now
        self.regions = frozenset(regions)
        self.index = BlindIndex(keyring.derived_key(BLIND_INDEX_LABEL))
        self.cursors = CursorSigner(keyring.derived_key(CURSOR_KEY_LABEL))

    # --- writing -------------------------------------------------------------------------

    def create(self, fields: Mapping[str, Any], *, region: str) -> str:
        """Create a customer; returns its id. Raises ``ValidationFailed`` (bad fields or
        region) and ``DuplicateCustomer`` (a unique value taken)."""
        return self.create_many([(fields, region)])[0]

    def create_many(self, items: Sequence[tuple[Mapping[str, Any], str]]) -> list[str]:
        """Create customers from (fields, region) pairs in a few statements; returns their
        ids. All or none: raises ``ValidationFailed`` for the first invalid item (its index
        in ``extra``) and ``DuplicateCustomer`` when a unique value is taken, also within
        ``items``."""
        prepared: list[tuple[str, dict[str, Normalised]]] = []
        for position, (fields, region) in enumerate(items):
            try:
                checked_region = self._check_region(region)
                values = self.catalogue.validate(fields, partial=False)
            except ValidationFailed as exc:
                if len(items) > 1:
                    exc.extra["index"] = position
                raise
            prepared.append((checked_region, {n: v for n, v in values.items() if v is not None}))
        digests = [self._digests(present) for _region, present in prepared]
        self._check_unique_many(digests, exclude=None)
        ids: list[str] = []
        customer_rows: list[dict[str, Any]] = []
        index_rows: list[dict[str, Any]] = []
        for (region, present), customer_digests in zip(prepared, digests, strict=True):
            customer_id = new_customer_id()
            wrapped, cipher = self.keyring.new_data_key(customer_id)
            customer_rows.append(
                {
                    "id": customer_id,
                    "region": region,
                    "status": "active",
                    "created_at": self.now,
                    "updated_at": self.now,
                    "last_activity_at": self.now,
                    "wrapped_key": wrapped.wrapped,
                    "kek_version": wrapped.kek_version,
                    "dek_version": cipher.dek_version,
                    "sealed_values": packing.pack(self._seal(cipher, present)) if present else None,
                }
            )
            index_rows += self._index_rows(customer_id, customer_digests)
            ids.append(customer_id)
        self.session.connection().execute(sa.insert(_CUSTOMERS), customer_rows)
        self._insert_index(index_rows)
        return ids

    def check(self, fields: Mapping[str, Any], region: Any) -> dict[str, bytes]:
        """Validate one customer as ``create`` would, writing nothing; returns the blind-index
        digests of its unique fields (for de-duplication). Raises ``ValidationFailed``."""
        errors: dict[str, Sequence[str]] = {}
        values: dict[str, Normalised | None] = {}
        try:
            self._check_region(region)
        except ValidationFailed as exc:
            errors.update(exc.errors or {})
        try:
            values = self.catalogue.validate(fields, partial=False)
        except ValidationFailed as exc:
            errors.update(exc.errors or {})
        if errors:
            raise ValidationFailed("the customer is invalid", errors=errors)
        present = {n: v for n, v in values.items() if v is not None}
        return {n: d for n, d in self._digests(present).items() if self.catalogue[n].unique}

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

    def update(self, customer_id: str, fields: Mapping[str, Any]) -> list[str]:
        """Set or (with ``None``) remove fields; returns the names changed. Raises
        ``NotFound``, ``ValidationFailed`` and ``DuplicateCustomer``."""
        if not fields:
            raise ValidationFailed(errors={"fields": ["give at least one field to change"]})
        values = self.catalogue.validate(fields, partial=True)
        row = self._active_row(customer_id)
        present = {name: v for name, v in values.items() if v is not None}
        digests = self._digests(present)
        self._check_unique_many([digests], exclude=customer_id)
        names = sorted(values)
        sealed = self._seal(self.cipher_for(customer_id, row), present)
        changes: dict[str, bytes | None] = {name: sealed.get(name) for name in names}
        connection = self.session.connection()
        connection.execute(
            sa.delete(_INDEX).where(
                _INDEX.c.customer_id == customer_id, _INDEX.c.field_name.in_(names)
            )
        )
        self._insert_index(self._index_rows(customer_id, digests))
        connection.execute(
            sa.update(_CUSTOMERS)
            .where(_CUSTOMERS.c.id == customer_id)
            .values(
                sealed_values=packing.replace(row.sealed_values, changes),
                updated_at=self.now,
                last_activity_at=self.now,
            )
        )
        return names

    def end_relationship(self, customer_id: str, when: dt.datetime | None) -> None:
        """Record when the customer relationship ended (``None``: it goes on); retention
        rules count from it. Raises ``NotFound``."""
        self.require_active(customer_id)
        if when is not None and when > self.now:
            raise ValidationFailed(errors={"relationship_ended_at": ["must not be in the future"]})
        self.session.execute(
            sa.update(Customer)
            .where(Customer.id == customer_id)
            .values(relationship_ended_at=when, updated_at=self.now, last_activity_at=self.now)
        )

    def touch(self, customer_id: str) -> None:
        """Record activity (an interaction, a consent...) for retention's sake."""
        self.session.execute(
            sa.update(Customer).where(Customer.id == customer_id).values(last_activity_at=self.now)
        )

    def destroy_data_key(self, customer_id: str) -> None:
        """Crypto-shred: every ciphertext of the customer becomes unreadable at once."""
        self.session.execute(
            sa.update(Customer)
            .where(Customer.id == customer_id)
            .values(wrapped_key=None, kek_version=None)
        )
        self.keyring.forget(customer_id)

    @staticmethod
    def _seal(cipher: FieldCipher, values: Mapping[str, Normalised]) -> dict[str, bytes]:
        return cipher.encrypt_many({name: v.stored.encode() for name, v in values.items()})

    def _digests(self, values: Mapping[str, Normalised]) -> dict[str, bytes]:
        """The blind-index digest of each searchable value."""
        return {
            name: self.index.digest(name, value.index_input)
            for name, value in values.items()
            if value.index_input is not None
        }

    def _index_rows(self, customer_id: str, digests: Mapping[str, bytes]) -> list[dict[str, Any]]:
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

    def _insert_index(self, rows: list[dict[str, Any]]) -> None:
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

    def _check_unique_many(
        self, batch: Sequence[Mapping[str, bytes]], *, exclude: str | None
    ) -> None:
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

    def _check_region(self, region: Any) -> str:
        if not isinstance(region, str) or region not in self.regions:
            raise ValidationFailed(
                errors={"region": [f"must be one of {', '.join(sorted(self.regions))}"]}
            )
        return region

    # --- reading -------------------------------------------------------------------------

    def _active_row(self, customer_id: str) -> Any:  # a Row of _CUSTOMER_COLUMNS
        row = self.session.execute(
            sa.select(*_CUSTOMER_COLUMNS).where(
                Customer.id == customer_id, Customer.status == "active"
            )
        ).one_or_none()
        if row is None:
            raise NotFound("no such customer")
        return row

    def require_active(self, customer_id: str) -> None:
        """Raises ``NotFound`` unless the customer exists and is active."""
        self._active_row(customer_id)

    def cipher_for(self, customer_id: str, row: Any = None) -> FieldCipher:
        """The field cipher of an active customer (``NotFound`` otherwise)."""
        row = row if row is not None else self._active_row(customer_id)
        return self.keyring.cipher(customer_id, self._wrapped(row), row.dek_version)

    @staticmethod
    def _wrapped(row: Any) -> WrappedKey | None:
        if row.wrapped_key is None or row.kek_version is None:
            return None
        return WrappedKey(row.wrapped_key, row.kek_version)

    def exists(self, customer_id: str) -> bool:
        query = sa.select(Customer.id).where(
            Customer.id == customer_id, Customer.status == "active"
        )
        return self.session.scalar(query) is not None

    def visible(
        self,
        customer_ids: Sequence[str],
        *,
        regions: Collection[str] | None = None,
        only: sa.ColumnElement[bool] | None = None,
    ) -> list[str]:
        """The ids among ``customer_ids`` (in that order) that are active, in ``regions``
        when given, and pass the extra row filter ``only`` (consent, grants)."""
        if not customer_ids:
            return []
        query = sa.select(Customer.id).where(
            Customer.id.in_(list(customer_ids)), Customer.status == "active"
        )
        if regions is not None:
            query = query.where(Customer.region.in_(sorted(regions)))
        if only is not None:
            query = query.where(only)
        found = set(self.session.scalars(query))
        return [i for i in customer_ids if i in found]

    def read(
        self, customer_ids: Sequence[str], field_names: Iterable[str], *, with_times: bool = False
    ) -> list[CustomerRecord]:
        """Active customers among ``customer_ids`` (in that order), with the values of
        ``field_names`` decrypted; no other value is decrypted. Raises ``DecryptionFailed``
        (naming customer and field) and ``DataKeyDestroyed``."""
        ids = list(dict.fromkeys(customer_ids))
        if not ids:
            return []
        names = [n for n in dict.fromkeys(field_names) if n in self.catalogue]
        query = _READ_WITH_TIMES if with_times else _READ
        rows = self.session.connection().execute(query, {"ids": ids}).all()
        records = {
            r.id: CustomerRecord(
                r.id, r.region, r.status, {}, relationship_ended_at=r.relationship_ended_at
            )
            for r in rows
        }
        if with_times:
            for r in rows:
                record = records[r.id]
                record.created_at, record.updated_at = r.created_at, r.updated_at
                record.last_activity_at = r.last_activity_at
        if names:
            wanted = packing.wanted_names(names)
            # string_list values are stored as JSON text (catalogue.normalise), the rest as text
            lists = {n for n in names if self.catalogue[n].type == "string_list"}
            cipher_for = self.keyring.cipher
            for r in rows:
                try:
                    entries = packing.unpack(r.sealed_values, wanted)
                except packing.MalformedPayload:
                    raise DecryptionFailed(r.id, "packed values") from None
                if not entries:
                    continue
                cipher = cipher_for(r.id, self._wrapped(r), r.dek_version)
                records[r.id].values = {
                    name: json.loads(plain) if name in lists else plain.decode()
                    for name, plain in cipher.decrypt_many(entries).items()
                }
        return [records[i] for i in ids if i in records]

    def read_one(
        self, customer_id: str, field_names: Iterable[str], *, with_times: bool = False
    ) -> CustomerRecord:
        records = self.read([customer_id], field_names, with_times=with_times)
        if not records:
            raise NotFound("no such customer")
        return records[0]

    def list_page(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        regions: Collection[str] | None = None,
        only: sa.ColumnElement[bool] | None = None,
    ) -> Page:
        """Active customer ids, oldest first, ``limit`` at a time; ``only`` is an extra row
        filter (consent, grants) from the access plan. Raises ``ValidationFailed`` for a
        ``limit`` out of range or a ``cursor`` this store's signer did not give out."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(errors={"limit": [f"must be between 1 and {MAX_PAGE}"]})
        # created_at comes raw: only the last row's is needed (for the cursor), so the other
        # rows are not converted into datetimes (measured: a third of a page listing).
        query = sa.select(Customer.id, _RAW_CREATED).where(Customer.status == "active")
        if regions is not None:
            query = query.where(Customer.region.in_(sorted(regions)))
        if only is not None:
            query = query.where(only)
        if cursor:
            created, last_id = self.cursors.decode(LISTING, cursor)
            query = query.where(
                sa.or_(
                    Customer.created_at > created,
                    sa.and_(Customer.created_at == created, Customer.id > last_id),
                )
            )
        rows = (
            self.session.connection()
            .execute(query.order_by(Customer.created_at, Customer.id).limit(limit + 1))
            .all()
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = self.cursors.encode(LISTING, _utc(rows[-1][1]), rows[-1][0]) if more else None
        return Page([r[0] for r in rows], next_cursor)

    def search(self, field: str, value: Any) -> list[str]:
        """Ids of active customers whose ``field`` equals ``value`` once normalised (an email
        in any case, a phone in any format). Raises ``ValidationFailed``."""
        spec = self.catalogue.fields.get(field)
        if spec is None or not spec.searchable:
            raise ValidationFailed(errors={field: ["is not a searchable field"]})
        digest = self.index.digest(field, normalise_search_input(spec, value))
        query = (
            sa.select(BlindIndexEntry.customer_id)
            .join(Customer, Customer.id == BlindIndexEntry.customer_id)
            .where(
                BlindIndexEntry.field_name == field,
                BlindIndexEntry.digest == digest,
                Customer.status == "active",
            )
            .order_by(BlindIndexEntry.customer_id)
        )
        return list(self.session.scalars(query))
