"""Legal holds: a compliance officer suspends every erasure of a customer (retention or a
privacy request) until the hold is lifted; both steps keep who, when and why (the reasons
sealed: ``vault.governance.notes``)."""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.crypto.notes import NoteCipher
from vault.customers.models import Customer
from vault.errors import NotFound, ValidationFailed
from vault.governance.models import LegalHold
from vault.governance.notes import hold_place


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not 5 <= len(reason) <= 500:
        raise ValidationFailed(errors={"reason": ["give a reason of 5 to 500 characters"]})
    return reason


def place_hold(
    session: Session, customer_id: str, *, reason: str, by: str, now: dt.datetime,
    notes: NoteCipher,
) -> LegalHold:  # fmt: skip
    """Place a hold, its reason sealed with ``notes``. Raises ``NotFound`` (no such active
    customer) and ``ValidationFailed``."""
    reason = _check_reason(reason)
    # Lock the customer's row, as an erasure does (vault.governance.erasure.lock_erasable):
    # the hold and an erasure of the same customer cannot both go through.
    exists = session.scalar(
        sa.select(Customer.id)
        .where(Customer.id == customer_id, Customer.status == "active")
        .with_for_update()
    )
    if exists is None:
        raise NotFound("no such customer")
    hold_id = "hold_" + secrets.token_hex(12)
    hold = LegalHold(
        id=hold_id,
        customer_id=customer_id,
        reason_ciphertext=notes.seal(hold_place(hold_id, "reason"), reason),
        placed_by=by,
        placed_at=now,
    )
    session.add(hold)
    session.flush()
    return hold


def lift_hold(
    session: Session, hold_id: str, *, reason: str, by: str, now: dt.datetime,
    notes: NoteCipher,
) -> LegalHold:  # fmt: skip
    """Lift a hold, the reason sealed with ``notes``. Raises ``NotFound`` and
    ``ValidationFailed`` (no reason, already lifted)."""
    reason = _check_reason(reason)
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound("no such legal hold")
    if hold.lifted_at is not None:
        raise ValidationFailed(errors={"hold": ["this hold was lifted already"]})
    hold.lifted_by, hold.lifted_at = by, now
    hold.lift_reason_ciphertext = notes.seal(hold_place(hold.id, "lift_reason"), reason)
    session.flush()
    return hold


def under_hold(session: Session, customer_id: str) -> bool:
    """Whether any hold on the customer is active: erasure must then not proceed."""
    query = sa.select(LegalHold.id).where(
        LegalHold.customer_id == customer_id, LegalHold.lifted_at.is_(None)
    )
    return session.scalar(query.limit(1)) is not None


def holds(session: Session, *, active_only: bool) -> list[LegalHold]:
    query = sa.select(LegalHold).order_by(LegalHold.placed_at.desc(), LegalHold.id)
    if active_only:
        query = query.where(LegalHold.lifted_at.is_(None))
    return list(session.scalars(query))
