"""Customer records: create, read a chosen set of fields (decrypting only those), update,
list with a cursor, search through blind indexes, and crypto-shred.

A ``CustomerStore`` serves one request or command: it flushes, the caller commits."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.crypto.blind_index import BLIND_INDEX_LABEL, BlindIndex
from vault.crypto.cursors import CURSOR_KEY_LABEL, CursorSigner
from vault.crypto.envelope import DecryptionFailed, FieldCipher, KeyRing, WrappedKey
from vault.customers import packing
from vault.customers.catalogue import Catalogue, Normalised, normalise_search_input
from vault.customers.index_rows import Holders, IndexRows
from vault.customers.listing import Page, list_page, narrowed, next_page, page_query
from vault.customers.models import Customer
from vault.customers.reads import (
    CUSTOMER_COLUMNS,
    ON_THE_DRIVER,
    READ,
    READ_COLUMNS,
    READ_HELD,
    READ_HELD_WITH_TIMES,
    READ_ONE,
    READ_ONE_WITH_TIMES,
    READ_WITH_TIMES,
    CustomerRecord,
    record_version,
)
from vault.errors import NotFound, ValidationFailed, or_not_found
from vault.events import outbox

DEFAULT_REGIONS = frozenset({"EU", "UK", "US", "APAC"})


def new_customer_id() -> str:
    return "cus_" + secrets.token_hex(16)


_CUSTOMERS = Customer.metadata.tables[Customer.__tablename__]


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
        self.unique = IndexRows(session, catalogue, self.index)
        self.cursors = CursorSigner(keyring.derived_key(CURSOR_KEY_LABEL))

    # --- writing -------------------------------------------------------------------------

    def taken(self, field: str, digests: Collection[bytes]) -> dict[bytes, str]:
        """Which of these digests of the unique ``field`` belong to a customer already:
        digest -> customer id."""
        return self.unique.taken(field, digests)

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
        digests = [self.unique.digests(present) for _region, present in prepared]
        self.unique.check(digests, exclude=None)
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
            index_rows += self.unique.rows(customer_id, customer_digests)
            ids.append(customer_id)
        self.session.connection().execute(sa.insert(_CUSTOMERS), customer_rows)
        self.unique.insert(index_rows)
        # who may hear of a new customer depends on the consents given with it
        outbox.record(
            self.session, "customer.created", ids, now=self.now,
            regions={r["id"]: r["region"] for r in customer_rows},
            fields={i: present for i, (_region, present) in zip(ids, prepared, strict=True)},
            new_customers=True,
        )  # fmt: skip
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
        return {n: d for n, d in self.unique.digests(present).items() if self.catalogue[n].unique}

    def update(self, customer_id: str, fields: Mapping[str, Any]) -> list[str]:
        """Set or (with ``None``) remove fields; returns the names changed. Raises
        ``NotFound``, ``ValidationFailed`` and ``DuplicateCustomer``."""
        if not fields:
            raise ValidationFailed(errors={"fields": ["give at least one field to change"]})
        values = self.catalogue.validate(fields, partial=True)
        row = self._active_row(customer_id)
        present = {name: v for name, v in values.items() if v is not None}
        digests = self.unique.digests(present)
        self.unique.check([digests], exclude=customer_id)
        names = sorted(values)
        sealed = self._seal(self.cipher_for(customer_id, row), present)
        changes: dict[str, bytes | None] = {name: sealed.get(name) for name in names}
        self.unique.replace(customer_id, names, self.unique.rows(customer_id, digests))
        self.session.connection().execute(
            sa.update(_CUSTOMERS)
            .where(_CUSTOMERS.c.id == customer_id)
            .values(
                sealed_values=packing.replace(row.sealed_values, changes),
                updated_at=self.now,
                last_activity_at=self.now,
            )
        )
        outbox.record(self.session, "customer.updated", [customer_id], now=self.now,
                      regions={customer_id: row.region}, fields=names)  # fmt: skip
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

    def _check_region(self, region: Any) -> str:
        if not isinstance(region, str) or region not in self.regions:
            raise ValidationFailed(
                errors={"region": [f"must be one of {', '.join(sorted(self.regions))}"]}
            )
        return region

    # --- reading -------------------------------------------------------------------------

    def _active_row(self, customer_id: str, *, lock: bool = False) -> Any:
        """The row (of ``CUSTOMER_COLUMNS``) of an active customer, ``NotFound`` otherwise;
        with ``lock``, locked until the transaction ends."""
        query = sa.select(*CUSTOMER_COLUMNS).where(
            Customer.id == customer_id, Customer.status == "active"
        )
        if lock:
            query = query.with_for_update()
        return or_not_found(self.session.execute(query).one_or_none(), "no such customer")

    def current_version(self, customer_id: str) -> str:
        """The version of an active customer's record (``NotFound`` otherwise), its row
        locked until the transaction ends: nothing changes it between this check and the
        change that follows it."""
        return record_version(self._active_row(customer_id, lock=True))

    def require_active(self, customer_id: str) -> str:
        """The region of the customer; raises ``NotFound`` unless it exists and is active."""
        return str(self._active_row(customer_id).region)

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
        """Whether the customer exists and is active."""
        return bool(self.visible([customer_id]))

    def visible(
        self, customer_ids: Sequence[str], *, regions: Collection[str] | None = None,
        only: sa.ColumnElement[bool] | None = None,
    ) -> list[str]:  # fmt: skip
        """The ids among ``customer_ids`` (in that order) that are active, in ``regions``
        when given, and pass the extra row filter ``only`` (consent, grants)."""
        if not customer_ids:
            return []
        query = sa.select(Customer.id).where(
            Customer.id.in_(list(customer_ids)), Customer.status == "active"
        )
        query = narrowed(query, regions, only)
        found = set(self.session.scalars(query))
        return [i for i in customer_ids if i in found]

    def read(
        self, customer_ids: Sequence[str] | Holders, field_names: Iterable[str],
        *, with_times: bool = False, regions: Collection[str] | None = None,
        only: sa.ColumnElement[bool] | None = None,
    ) -> list[CustomerRecord]:  # fmt: skip
        """Active customers among ``customer_ids`` (in that order; or, in id order, the
        holders of a blind-index digest that ``matching`` names), with only ``field_names``
        decrypted.
        ``regions`` and ``only`` narrow the rows as in ``visible``, in the same SELECT.
        Raises ``DecryptionFailed`` (naming customer and field) and ``DataKeyDestroyed``."""
        ids: list[str] = []
        params: dict[str, Any]
        if isinstance(customer_ids, Holders):
            query = READ_HELD_WITH_TIMES if with_times else READ_HELD
            params = customer_ids.params()
        else:
            ids = list(dict.fromkeys(customer_ids))
            if not ids:
                return []
            if len(ids) == 1:
                query = READ_ONE_WITH_TIMES if with_times else READ_ONE
                params = {"id": ids[0]}
            else:
                query = READ_WITH_TIMES if with_times else READ
                params = {"ids": ids}
        names = [n for n in dict.fromkeys(field_names) if n in self.catalogue]
        query = narrowed(query, regions, only)
        connection = self.session.connection()
        on_the_driver = ON_THE_DRIVER.get(id(query))
        if on_the_driver is not None:
            rows: Sequence[Any] = on_the_driver.rows(connection, params)
        else:
            rows = connection.execute(query, params).all()
        records = self._records(rows, names, with_times=with_times)
        return [records[i] for i in (ids or list(records)) if i in records]

    def _records(
        self, rows: Sequence[Any], names: list[str], *, with_times: bool = False
    ) -> dict[str, CustomerRecord]:
        """Records of ``rows`` (of ``READ_COLUMNS``, or all columns ``with_times``), in row
        order, with the fields ``names`` decrypted."""
        records = {
            r.id: CustomerRecord(
                r.id,
                r.region,
                r.status,
                {},
                relationship_ended_at=r.relationship_ended_at,
                sealed_values=r.sealed_values,
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
        return records

    def read_one(
        self, customer_id: str, field_names: Iterable[str], *, with_times: bool = False
    ) -> CustomerRecord:
        for record in self.read([customer_id], field_names, with_times=with_times):
            return record
        raise NotFound("no such customer")

    def list_page(
        self, *, limit: int = 50, cursor: str | None = None,
        regions: Collection[str] | None = None, only: sa.ColumnElement[bool] | None = None,
    ) -> Page:  # fmt: skip
        """Active customer ids, oldest first (``vault.customers.listing.list_page``)."""
        return list_page(self.session, self.cursors, limit=limit, cursor=cursor,
                         regions=regions, only=only)  # fmt: skip

    def read_page(
        self, field_names: Iterable[str], *, limit: int = 50, cursor: str | None = None,
        regions: Collection[str] | None = None, only: sa.ColumnElement[bool] | None = None,
    ) -> tuple[list[CustomerRecord], str | None]:  # fmt: skip
        """``list_page`` and ``read`` in one SELECT: a page of active customers, oldest first,
        with only ``field_names`` decrypted, and the cursor of the next page."""
        query = page_query(READ_COLUMNS, self.cursors, limit=limit, cursor=cursor,
                           regions=regions, only=only)  # fmt: skip
        rows, next_cursor = next_page(self.cursors, self.session.connection().execute(query).all(),
                                      limit)  # fmt: skip
        names = [n for n in dict.fromkeys(field_names) if n in self.catalogue]
        return list(self._records(rows, names).values()), next_cursor

    def search(self, field: str, value: Any) -> list[str]:
        """Ids of active customers whose ``field`` equals ``value`` once normalised (an email
        in any case, a phone in any format). Raises ``ValidationFailed``."""
        return self.unique.active_holders(field, self._search_digest(field, value))

    def matching(self, field: str, value: Any) -> Holders:
        """``search`` as the holders of a digest for ``read``, which finds and reads them in
        one SELECT."""
        return Holders(field, self._search_digest(field, value))

    def _search_digest(self, field: str, value: Any) -> bytes:
        spec = self.catalogue.fields.get(field)
        if spec is None or not spec.searchable:
            raise ValidationFailed(errors={field: ["is not a searchable field"]})
        return self.index.digest(field, normalise_search_input(spec, value))
