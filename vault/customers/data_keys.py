"""The customers' wrapped data keys, as master-key rotation sees them
(``vault.crypto.rotation.WrappedKeyStore``): one per customer row, none once shredded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.crypto.envelope import WrappedKey
from vault.customers.models import Customer

_TABLE = Customer.metadata.tables[Customer.__tablename__]


class CustomerDataKeys:
    def __init__(self, session: Session) -> None:
        self.session = session

    def count_by_version(self) -> tuple[dict[int, int], int]:
        counts = self.session.execute(
            sa.select(Customer.kek_version, sa.func.count())
            .where(Customer.wrapped_key.is_not(None))
            .group_by(Customer.kek_version)
        ).all()
        destroyed = self.session.scalar(
            sa.select(sa.func.count()).select_from(Customer).where(Customer.wrapped_key.is_(None))
        )
        return {int(v): int(n) for v, n in counts if v is not None}, int(destroyed or 0)

    def not_under(
        self, version: int, *, after: Any, limit: int
    ) -> Sequence[tuple[str, WrappedKey, Any]]:
        # In insertion order (the created_at, id index): each batch rewrites neighbouring
        # pages, where random ids would scatter every batch across the whole table.
        query = sa.select(
            Customer.id, Customer.created_at, Customer.wrapped_key, Customer.kek_version
        ).where(Customer.wrapped_key.is_not(None), Customer.kek_version != version)
        if after is not None:
            created, last_id = after
            query = query.where(
                sa.or_(
                    Customer.created_at > created,
                    sa.and_(Customer.created_at == created, Customer.id > last_id),
                )
            )
        rows = self.session.execute(
            query.order_by(Customer.created_at, Customer.id).limit(limit)
        ).all()
        return [
            (customer_id, WrappedKey(wrapped, kek_version), (created, customer_id))
            for customer_id, created, wrapped, kek_version in rows
            if wrapped is not None and kek_version is not None  # excluded by the query
        ]

    def rewrite(self, version: int, rewrapped: Sequence[tuple[str, bytes]]) -> None:
        statement = (
            sa.update(_TABLE)
            .where(_TABLE.c.id == sa.bindparam("b_id"))
            .values(wrapped_key=sa.bindparam("b_wrapped"), kek_version=version)
        )
        rows = [{"b_id": owner, "b_wrapped": wrapped} for owner, wrapped in rewrapped]
        self.session.connection().execute(statement, rows)

    def commit(self) -> None:
        self.session.commit()
