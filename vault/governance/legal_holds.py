"""Legal holds: a compliance officer suspends every erasure of a customer (retention or a
privacy request) until the hold is lifted; both steps keep who, when and why (the reasons
sealed: ``vault.governance.notes``)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.auth.principal import Principal
from vault.crypto.notes import NoteCipher
from vault.customers.models import Customer
from vault.errors import NotFound, ValidationFailed, or_not_found
from vault.governance.models import LegalHold
from vault.governance.notes import hold_place, reasons_of


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
    hold = or_not_found(session.get(LegalHold, hold_id), "no such legal hold")
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


class LegalHolds:
    """Legal holds as staff use them from the API or the admin UI: compliance officers place
    and lift them, compliance officers and admins read them. Every call checks ``principal``'s
    role (``Forbidden`` otherwise) and records its audit event under ``context`` in
    ``session``'s transaction; ``notes`` gives the cipher of the holds' reasons."""

    READ = "legal holds are for compliance officers and admins"
    CHANGE = "legal holds are placed and lifted by compliance officers"

    def __init__(
        self, session: Session, context: AuditContext, principal: Principal, *,
        now: dt.datetime, notes: Callable[[], NoteCipher],
    ) -> None:  # fmt: skip
        self.session, self.context, self.principal = session, context, principal
        self.now, self.notes = now, notes

    def _event(self, action: str, hold: LegalHold | None = None) -> None:
        # The reason stays in the hold (compliance officers read it there); the event names
        # the hold.
        record_event(self.session, self.context, action=action, outcome="allowed",
                     now=self.now, customer_ids=[hold.customer_id] if hold else (),
                     reason=hold.id if hold else "")  # fmt: skip

    def _officer(self) -> str:
        return self.principal.require_role("compliance_officer", because=self.CHANGE)

    def all(self, *, active_only: bool) -> list[LegalHold]:
        """Holds, newest first; lifted ones too unless ``active_only`` (``legal_hold.read``)."""
        self.principal.require_role("compliance_officer", "admin", because=self.READ)
        found = holds(self.session, active_only=active_only)
        self._event("legal_hold.read")
        return found

    def place(self, customer_id: str, *, reason: str) -> LegalHold:
        """Place a hold on a customer (``place_hold``; ``legal_hold.place``); nothing
        changes when it raises."""
        officer = self._officer()
        with self.session.begin_nested():
            hold = place_hold(self.session, customer_id, reason=reason, by=officer,
                              now=self.now, notes=self.notes())  # fmt: skip
            self._event("legal_hold.place", hold)
        return hold

    def lift(self, hold_id: str, *, reason: str) -> LegalHold:
        """Lift a hold, with the reason (``lift_hold``; ``legal_hold.lift``); nothing
        changes when it raises."""
        officer = self._officer()
        with self.session.begin_nested():
            hold = lift_hold(self.session, hold_id, reason=reason, by=officer, now=self.now,
                             notes=self.notes())  # fmt: skip
            self._event("legal_hold.lift", hold)
        return hold

    def reasons(self, hold: LegalHold) -> tuple[str | None, str | None]:
        """A hold's reason and lift reason in clear (None: not given, or erased)."""
        return reasons_of(hold, self.notes())
