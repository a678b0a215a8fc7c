"""Erasure, shared by retention and (later) customers' own erasure requests.

- ``erase_fields``: the named fields' ciphertexts and blind indexes are deleted; the customer
  stays active.
- ``anonymise``: the customer stops being a person: its data key is destroyed
  (crypto-shredding) and every value, blind index, interaction text and consent evidence is
  deleted; what remains are facts without a person (interaction kind, channel, time and amount;
  consent history without evidence; channels and sources are codes, and free text an older
  row may hold is removed) against a tombstone, so aggregate figures stay right.
- ``erase``: the same, and the interactions and consent history are deleted too; only the
  tombstone (id, region, times) and the audit trail, which holds no values, remain.

Each also deletes the answers kept for ``Idempotency-Key`` that are about the customers
(``vault.idempotency``): they may hold the values erased.

Both also delete the reasons of the customer's (lifted) legal holds, and the caller deletes
the mail kept about its privacy requests once the erasure has committed
(``privacy_request_ids``).

An erased or anonymised customer is invisible to every role. Nothing here erases a customer
under a legal hold: callers pass the ids ``lock_erasable`` returned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.codes import is_code
from vault.crypto.envelope import KeyRing
from vault.customers import packing
from vault.customers.models import BlindIndexEntry, Customer, Interaction
from vault.events import outbox
from vault.governance.models import ConsentEvent, ConsentState, LegalHold, PrivacyRequest
from vault.idempotency.service import forget_answers_about

_CUSTOMERS = Customer.metadata.tables[Customer.__tablename__]


@dataclasses.dataclass(frozen=True, slots=True)
class Erasable:
    """Of the ids asked for: the active customers free to erase, and those under a hold."""

    free: list[str]
    held: list[str]


def lock_erasable(session: Session, customer_ids: Sequence[str]) -> Erasable:
    """Lock the rows of the active customers among ``customer_ids`` (until the transaction
    ends) and split them by legal hold. Placing a hold locks the same row first, so a hold
    committed while this transaction waited is seen here, and a hold placed afterwards finds
    the customer erased."""
    if not customer_ids:
        return Erasable([], [])
    active = list(
        session.scalars(
            sa.select(Customer.id)
            .where(Customer.id.in_(list(customer_ids)), Customer.status == "active")
            .order_by(Customer.id)
            .with_for_update()
        )
    )
    held = held_among(session, active)
    return Erasable([i for i in active if i not in held], sorted(held))


def held_among(session: Session, customer_ids: Collection[str]) -> set[str]:
    """The customers among ``customer_ids`` with an active legal hold."""
    if not customer_ids:
        return set()
    return set(
        session.scalars(
            sa.select(LegalHold.customer_id)
            .where(LegalHold.customer_id.in_(list(customer_ids)), LegalHold.lifted_at.is_(None))
            .distinct()
        )
    )


def privacy_request_ids(session: Session, customer_ids: Sequence[str]) -> list[str]:
    """The ids of these customers' privacy requests: the references of the mail sent about
    them (``vault.mail``), which goes when they are erased."""
    if not customer_ids:
        return []
    query = sa.select(PrivacyRequest.id).where(PrivacyRequest.customer_id.in_(list(customer_ids)))
    return sorted(session.scalars(query))


def stored_field_names(session: Session, customer_ids: Sequence[str]) -> list[str]:
    """Which fields hold a value for any of ``customer_ids`` (names only, nothing decrypted)."""
    names: set[str] = set()
    rows = session.execute(
        sa.select(Customer.sealed_values).where(Customer.id.in_(list(customer_ids)))
    )
    for (payload,) in rows:
        names.update(packing.names(payload))
    return sorted(names)


def erase_customers(
    session: Session, keyring: KeyRing, customer_ids: Sequence[str], *, now: dt.datetime,
    anonymise: bool, cause: str,
) -> None:  # fmt: skip
    """Erase (or anonymise) these customers: see the module's docstring. The ids must come
    from ``lock_erasable`` in this transaction. Consumer systems are told
    (``customer.erased`` or ``customer.anonymised``, with ``cause``: ``privacy_request``,
    ``retention``), those that could see the customers before included."""
    if not customer_ids:
        return
    ids = list(customer_ids)
    outbox.record(session, "customer.anonymised" if anonymise else "customer.erased", ids,
                  now=now, data={"cause": cause})  # fmt: skip
    session.execute(
        sa.update(Customer)
        .where(Customer.id.in_(ids))
        .values(
            status="erased",
            erasure="anonymised" if anonymise else "erased",
            erased_at=now,
            updated_at=now,
            wrapped_key=None,
            kek_version=None,
            sealed_values=None,
        )
    )
    session.execute(sa.delete(BlindIndexEntry).where(BlindIndexEntry.customer_id.in_(ids)))
    forget_answers_about(session, ids)
    # a hold's reasons are staff's free text about the customer: they go, the hold's ids and
    # times stay (the erased customer's holds were all lifted: ``lock_erasable``)
    session.execute(
        sa.update(LegalHold)
        .where(LegalHold.customer_id.in_(ids))
        .values(reason=None, reason_ciphertext=None, lift_reason=None, lift_reason_ciphertext=None)
    )
    if anonymise:
        session.execute(
            sa.update(Interaction)
            .where(Interaction.customer_id.in_(ids), Interaction.text_ciphertext.is_not(None))
            .values(text_ciphertext=None)
        )
        session.execute(
            sa.update(ConsentEvent)
            .where(ConsentEvent.customer_id.in_(ids), ConsentEvent.evidence_ciphertext.is_not(None))
            .values(evidence_ciphertext=None)
        )
        _scrub_free_text(session, ids)
    else:
        session.execute(sa.delete(Interaction).where(Interaction.customer_id.in_(ids)))
        session.execute(sa.delete(ConsentState).where(ConsentState.customer_id.in_(ids)))
        session.execute(sa.delete(ConsentEvent).where(ConsentEvent.customer_id.in_(ids)))
    for customer_id in ids:
        keyring.forget(customer_id)


# What an anonymised consent event says of its source when the source was free text.
REDACTED_SOURCE = "redacted"


def _scrub_free_text(session: Session, ids: list[str]) -> None:
    """Consent sources and interaction channels stay beside anonymised data; rows written
    before they had to be codes (``vault.codes``) may hold free text, which goes now. Reads
    only the distinct values (a handful), not every row."""
    for column, blank in ((ConsentEvent.source, REDACTED_SOURCE), (Interaction.channel, "")):
        table = column.class_
        values = session.scalars(sa.select(column).where(table.customer_id.in_(ids)).distinct())
        free = [v for v in values if v and not is_code(v)]
        if free:
            session.execute(
                sa.update(table)
                .where(table.customer_id.in_(ids), column.in_(free))
                .values({column.key: blank})
            )


def erase_fields(
    session: Session, payloads: dict[str, bytes | None], field_names: Collection[str], *,
    now: dt.datetime,
) -> dict[str, list[str]]:  # fmt: skip
    """Delete ``field_names`` of the customers in ``payloads`` (id -> its packed values as read
    in this transaction, from ``lock_erasable``'s ids); returns, per customer that had any,
    the names deleted. Other values are untouched and not decrypted."""
    wanted = packing.wanted_names(field_names)
    erased: dict[str, list[str]] = {}
    updates = []
    for customer_id, payload in payloads.items():
        present = sorted(packing.unpack(payload, wanted))
        if not present:
            continue
        erased[customer_id] = present
        updates.append(
            {
                "target": customer_id,
                "sealed_values": packing.replace(payload, dict.fromkeys(present)),
                "updated_at": now,
            }
        )
    if not updates:
        return erased
    outbox.record(session, "field.erased", sorted(erased), now=now, fields=erased,
                  data={"cause": "retention"})  # fmt: skip
    session.connection().execute(
        sa.update(_CUSTOMERS).where(_CUSTOMERS.c.id == sa.bindparam("target")),
        updates,
    )
    forget_answers_about(session, list(erased))
    session.execute(
        sa.delete(BlindIndexEntry).where(
            BlindIndexEntry.customer_id.in_(list(erased)),
            BlindIndexEntry.field_name.in_(sorted(field_names)),
        )
    )
    return erased
