"""A customer's withdrawal of consent through the portal (GDPR Art. 7(3)): which purposes a
request may name, and the withdrawal itself once the code has proved the address."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.customers.service import CustomerStore
from vault.errors import ValidationFailed
from vault.governance.consent import record_consent
from vault.policies.models import Purpose

WITHDRAW = "withdraw_consent"


def named_purposes(session: Session, kind: str, purposes: Sequence[str]) -> list[str]:
    """The purposes a request of ``kind`` names: for a withdrawal one or more that exist,
    for any other type none. Raises ``ValidationFailed``."""
    named = sorted(set(purposes))
    if kind != WITHDRAW:
        if named:
            raise ValidationFailed(errors={"purposes": [f"only a {WITHDRAW} names purposes"]})
        return []
    known = set(session.scalars(sa.select(Purpose.code).where(Purpose.code.in_(named))))
    if not named or set(named) - known:
        raise ValidationFailed(errors={"purposes": ["name one or more purposes that exist"]})
    return named


def withdraw_consents(store: CustomerStore, customer_id: str, purposes: Sequence[str],
                      *, request_id: str) -> None:  # fmt: skip
    """A withdrawal recorded for each of ``purposes`` (a consent event each, which tells the
    consumer systems, ``consent.changed``); a purpose never consented to is recorded as
    withdrawn all the same."""
    for purpose in purposes:
        record_consent(store, customer_id, purpose=purpose, granted=False,
                       source="privacy_portal", recorded_by=request_id)  # fmt: skip
