"""Master-key rotation: a new master-key version, then every data key re-wrapped under it in
batches, each batch committed on its own. Values are never touched.

Resumable by construction: a run picks up every data key not yet under the current version,
so a rerun after a crash finishes the job instead of starting another rotation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.crypto.envelope import KeyRing, WrappedKey
from vault.crypto.keys import KeyProvider, RotatableKeyProvider
from vault.customers.models import Customer
from vault.errors import ConfigurationError


@dataclasses.dataclass
class KeyStatus:
    current_version: int
    versions: list[int]
    data_keys_by_version: dict[int, int]
    destroyed: int

    @property
    def pending(self) -> int:
        """Data keys still wrapped under an older master key."""
        return sum(n for v, n in self.data_keys_by_version.items() if v != self.current_version)


@dataclasses.dataclass
class RotationReport:
    version: int
    started_new_version: bool
    rewrapped: int


def key_status(session: Session, provider: KeyProvider) -> KeyStatus:
    counts = session.execute(
        sa.select(Customer.kek_version, sa.func.count())
        .where(Customer.wrapped_key.is_not(None))
        .group_by(Customer.kek_version)
    ).all()
    destroyed = session.scalar(
        sa.select(sa.func.count()).select_from(Customer).where(Customer.wrapped_key.is_(None))
    )
    return KeyStatus(
        current_version=provider.current_version(),
        versions=provider.versions(),
        data_keys_by_version={int(v): int(n) for v, n in counts if v is not None},
        destroyed=int(destroyed or 0),
    )


def rotate_master_key(
    session: Session,
    provider: KeyProvider,
    *,
    batch_size: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> RotationReport:
    """Re-wrap every data key under the current master key, after creating a new version
    unless an earlier rotation is unfinished. Commits after each batch; ``on_batch`` hears how
    many keys each batch re-wrapped (a progress bar)."""
    status = key_status(session, provider)
    started = False
    if status.pending == 0:
        if not hasattr(provider, "add_version"):
            raise ConfigurationError(
                "this key provider cannot create versions: publish a new key document instead"
            )
        rotatable: RotatableKeyProvider = provider  # type: ignore[assignment]
        rotatable.add_version()
        started = True
    target = provider.current_version()
    ring = KeyRing(provider)
    total = 0
    # Walk in insertion order (the created_at, id index): each batch rewrites neighbouring
    # pages, where random ids would scatter every batch across the whole table.
    position: tuple[Any, str] | None = None
    table = Customer.metadata.tables[Customer.__tablename__]
    rewrite = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values(wrapped_key=sa.bindparam("b_wrapped"), kek_version=target)
    )
    while True:
        query = sa.select(
            Customer.id, Customer.created_at, Customer.wrapped_key, Customer.kek_version
        ).where(Customer.wrapped_key.is_not(None), Customer.kek_version != target)
        if position is not None:
            query = query.where(
                sa.or_(
                    Customer.created_at > position[0],
                    sa.and_(Customer.created_at == position[0], Customer.id > position[1]),
                )
            )
        batch = session.execute(
            query.order_by(Customer.created_at, Customer.id).limit(batch_size)
        ).all()
        if not batch:
            break
        updates = []
        for customer_id, _created, wrapped, version in batch:
            if wrapped is None or version is None:  # excluded by the query; keeps types exact
                continue
            rewrapped = ring.rewrap(customer_id, WrappedKey(wrapped, version), target)
            updates.append({"b_id": customer_id, "b_wrapped": rewrapped.wrapped})
        session.connection().execute(rewrite, updates)
        session.commit()
        total += len(updates)
        position = (batch[-1].created_at, batch[-1].id)
        if on_batch is not None:
            on_batch(len(updates))
    return RotationReport(version=target, started_new_version=started, rewrapped=total)
