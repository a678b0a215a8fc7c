"""Customer records: create, read a chosen set of fields (decrypting only those), update,
list with a cursor, search through blind indexes, and crypto-shred.

A ``CustomerStore`` serves one request or command: it flushes, the caller commits.
"""

from __future__ import annotations

import base64
import binascii
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
from vault.crypto.envelope import FieldCipher, KeyRing, WrappedKey
from vault.customers.catalogue import Catalogue, Normalised, decode, normalise_search_input
from vault.customers.models import BlindIndexEntry, Customer, CustomerValue
from vault.errors import Conflict, NotFound, ValidationFailed

DEFAULT_REGIONS = frozenset({"EU", "UK", "US", "APAC"})
MAX_PAGE = 500


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
    created_at: dt.datetime
    updated_at: dt.datetime
    last_activity_at: dt.datetime
    values: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    ids: list[str]
    next_cursor: str | None


def new_customer_id() -> str:
    return "cus_" + secrets.token_hex(16)


def encode_cursor(created_at: dt.datetime, customer_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), customer_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, customer_id = json.loads(raw)
        return dt.datetime.fromisoformat(created), str(customer_id)
    except (ValueError, TypeError, binascii.Error):
        raise ValidationFailed(errors={"cursor": ["is not a cursor this API returned"]}) from None


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
)


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

    # --- writing -------------------------------------------------------------------------

    def create(self, fields: Mapping[str, Any], *, region: str) -> str:
        """Create a customer; returns its id. Raises ``ValidationFailed`` (bad fields or
        region) and ``DuplicateCustomer`` (a unique value taken)."""
        region = self._check_region(region)
        values = self.catalogue.validate(fields, partial=False)
        present = {name: v for name, v in values.items() if v is not None}
        self._check_unique(present, exclude=None)
        customer_id = new_customer_id()
        wrapped, cipher = self.keyring.new_data_key(customer_id)
        self.session.add(
            Customer(
                id=customer_id,
                region=region,
                status="active",
                created_at=self.now,
                updated_at=self.now,
                last_activity_at=self.now,
                wrapped_key=wrapped.wrapped,
                kek_version=wrapped.kek_version,
                dek_version=cipher.dek_version,
            )
        )
        self.session.flush()
        self._write_values(customer_id, cipher, present)
        return customer_id

    def update(self, customer_id: str, fields: Mapping[str, Any]) -> list[str]:
        """Set or (with ``None``) remove fields; returns the names changed. Raises
        ``NotFound``, ``ValidationFailed`` and ``DuplicateCustomer``."""
        if not fields:
            raise ValidationFailed(errors={"fields": ["give at least one field to change"]})
        values = self.catalogue.validate(fields, partial=True)
        row = self._active_row(customer_id)
        present = {name: v for name, v in values.items() if v is not None}
        self._check_unique(present, exclude=customer_id)
        names = list(values)
        self.session.execute(
            sa.delete(CustomerValue).where(
                CustomerValue.customer_id == customer_id, CustomerValue.field_name.in_(names)
            )
        )
        self.session.execute(
            sa.delete(BlindIndexEntry).where(
                BlindIndexEntry.customer_id == customer_id, BlindIndexEntry.field_name.in_(names)
            )
        )
        self._write_values(customer_id, self.cipher_for(customer_id, row), present)
        self.session.execute(
            sa.update(Customer)
            .where(Customer.id == customer_id)
            .values(updated_at=self.now, last_activity_at=self.now)
        )
        return sorted(names)

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

    def _write_values(
        self, customer_id: str, cipher: FieldCipher, values: Mapping[str, Normalised]
    ) -> None:
        if not values:
            return
        self.session.execute(
            sa.insert(CustomerValue),
            [
                {
                    "customer_id": customer_id,
                    "field_name": name,
                    "ciphertext": cipher.encrypt(name, value.stored.encode()),
                    "updated_at": self.now,
                }
                for name, value in values.items()
            ],
        )
        entries = [
            {
                "customer_id": customer_id,
                "field_name": name,
                "digest": digest,
                "unique_digest": digest if self.catalogue[name].unique else None,
            }
            for name, value in values.items()
            if value.index_input is not None
            for digest in [self.index.digest(name, value.index_input)]
        ]
        if entries:
            try:
                with self.session.begin_nested():
                    self.session.execute(sa.insert(BlindIndexEntry), entries)
            except IntegrityError:
                # Another transaction took the value between our check and our insert.
                field = next(str(e["field_name"]) for e in entries if e["unique_digest"])
                raise DuplicateCustomer(field, None) from None

    def _check_unique(self, values: Mapping[str, Normalised], *, exclude: str | None) -> None:
        for name, value in values.items():
            if not self.catalogue[name].unique or value.index_input is None:
                continue
            digest = self.index.digest(name, value.index_input)
            query = sa.select(BlindIndexEntry.customer_id).where(
                BlindIndexEntry.field_name == name, BlindIndexEntry.unique_digest == digest
            )
            if exclude is not None:
                query = query.where(BlindIndexEntry.customer_id != exclude)
            existing = self.session.scalar(query)
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

    def read(self, customer_ids: Sequence[str], field_names: Iterable[str]) -> list[CustomerRecord]:
        """Active customers among ``customer_ids`` (in that order), with the values of
        ``field_names`` decrypted; no other value is fetched or decrypted."""
        ids = list(dict.fromkeys(customer_ids))
        if not ids:
            return []
        names = [n for n in dict.fromkeys(field_names) if n in self.catalogue]
        rows = self.session.execute(
            sa.select(*_CUSTOMER_COLUMNS).where(Customer.id.in_(ids), Customer.status == "active")
        ).all()
        records = {
            r.id: CustomerRecord(
                r.id, r.region, r.status, r.created_at, r.updated_at, r.last_activity_at, {}
            )
            for r in rows
        }
        if names and rows:
            keys = {r.id: (self._wrapped(r), r.dek_version) for r in rows}
            ciphertexts = self.session.execute(
                sa.select(
                    CustomerValue.customer_id, CustomerValue.field_name, CustomerValue.ciphertext
                ).where(CustomerValue.customer_id.in_(records), CustomerValue.field_name.in_(names))
            )
            cipher_for = self.keyring.cipher
            fields = self.catalogue.fields
            for customer_id, name, blob in ciphertexts:
                cipher = cipher_for(customer_id, *keys[customer_id])
                records[customer_id].values[name] = decode(
                    fields[name], cipher.decrypt(name, blob).decode()
                )
        return [records[i] for i in ids if i in records]

    def read_one(self, customer_id: str, field_names: Iterable[str]) -> CustomerRecord:
        records = self.read([customer_id], field_names)
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
        filter (consent, grants) from the access plan."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(errors={"limit": [f"must be between 1 and {MAX_PAGE}"]})
        query = sa.select(Customer.id, Customer.created_at).where(Customer.status == "active")
        if regions is not None:
            query = query.where(Customer.region.in_(sorted(regions)))
        if only is not None:
            query = query.where(only)
        if cursor:
            created, last_id = decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    Customer.created_at > created,
                    sa.and_(Customer.created_at == created, Customer.id > last_id),
                )
            )
        rows = self.session.execute(
            query.order_by(Customer.created_at, Customer.id).limit(limit + 1)
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more else None
        return Page([r.id for r in rows], next_cursor)

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
