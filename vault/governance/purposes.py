"""Purposes of use with their legal basis, and the consent statistic of each (granted,
withdrawn, never asked) for the dashboard. A purpose whose legal basis is consent gates rows
on every customer route (vault.policies: the plan's row filter)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.auth.principal import Principal
from vault.customers.models import Customer
from vault.db import last_days, utc_day
from vault.errors import Conflict, ValidationFailed
from vault.governance.models import ConsentEvent, ConsentState
from vault.policies import versions
from vault.policies.models import LEGAL_BASES, Purpose
from vault.policies.service import COUNTER as POLICIES

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def purposes_with_consent(session: Session) -> list[dict[str, Any]]:
    """Every purpose, with how many active customers granted, withdrew or were never asked."""
    active = (
        session.scalar(
            sa.select(sa.func.count()).select_from(Customer).where(Customer.status == "active")
        )
        or 0
    )
    counts = session.execute(
        sa.select(ConsentState.purpose_code, ConsentState.granted, sa.func.count())
        .join(Customer, Customer.id == ConsentState.customer_id)
        .where(Customer.status == "active")
        .group_by(ConsentState.purpose_code, ConsentState.granted)
    ).all()
    tally: dict[tuple[str, bool], int] = {(code, bool(g)): int(n) for code, g, n in counts}
    items = []
    for purpose in session.scalars(sa.select(Purpose).order_by(Purpose.code)):
        granted = tally.get((purpose.code, True), 0)
        withdrawn = tally.get((purpose.code, False), 0)
        items.append(
            {
                "code": purpose.code,
                "description": purpose.description,
                "legal_basis": purpose.legal_basis,
                "consent": {
                    "granted": granted,
                    "withdrawn": withdrawn,
                    "never_asked": active - granted - withdrawn,
                },
            }
        )
    return items


def create_purpose(session: Session, *, code: str, description: str, legal_basis: str) -> Purpose:
    """A new purpose. Raises ``ValidationFailed`` (bad code, unknown legal basis) and
    ``Conflict`` (code taken). Plans are recompiled: the legal basis decides row filters."""
    errors: dict[str, list[str]] = {}
    if not _CODE.match(code):
        errors["code"] = ["must be 2-64 characters: a-z, digits, underscore"]
    if legal_basis not in LEGAL_BASES:
        errors["legal_basis"] = [f"must be one of {', '.join(LEGAL_BASES)}"]
    if errors:
        raise ValidationFailed("the purpose is invalid", errors=errors)
    if session.get(Purpose, code) is not None:
        raise Conflict(f"the purpose {code!r} exists", code="purpose_exists")
    purpose = Purpose(code=code, description=description, legal_basis=legal_basis)
    session.add(purpose)
    session.flush()
    versions.bump(session, POLICIES)
    return purpose


class Purposes:
    """Purposes as staff use them from the API or the admin UI: every principal reads them
    with their consent statistics; admins add them (``Forbidden`` otherwise), each addition
    recorded under ``context`` in ``session``'s transaction."""

    CHANGE = "purposes are managed by admins"

    def __init__(
        self, session: Session, context: AuditContext, principal: Principal, *, now: dt.datetime
    ) -> None:
        self.session, self.context, self.principal, self.now = session, context, principal, now

    def with_consent(self) -> list[dict[str, Any]]:
        """Every purpose with its consent statistic (``purposes_with_consent``)."""
        return purposes_with_consent(self.session)

    def consent_by_day(self, days: int = 30) -> dict[str, list[tuple[str, int, int]]]:
        """Per purpose that had any, (UTC day, consents given, consents withdrawn) for each of
        the last ``days`` days (``consent_by_day``)."""
        return consent_by_day(self.session, now=self.now, days=days)

    def add(self, *, code: str, description: str, legal_basis: str) -> Purpose:
        """A new purpose (``create_purpose``; ``purpose.change``); nothing changes when it
        raises."""
        self.principal.require_role("admin", because=self.CHANGE)
        with self.session.begin_nested():
            purpose = create_purpose(self.session, code=code, description=description,
                                     legal_basis=legal_basis)  # fmt: skip
            record_event(self.session, self.context, action="purpose.change", outcome="allowed",
                         now=self.now, reason=f"created {purpose.code}")  # fmt: skip
        return purpose


def consent_by_day(
    session: Session, *, now: dt.datetime, days: int
) -> dict[str, list[tuple[str, int, int]]]:
    """Per purpose, (UTC day, given, withdrawn) for each of the last ``days`` days, oldest
    first, by when the consent events happened: counts only. Purposes without an event in
    that time are left out."""
    day = utc_day(ConsentEvent.occurred_at)
    rows = session.execute(
        sa.select(ConsentEvent.purpose_code, day, ConsentEvent.granted, sa.func.count())
        .where(ConsentEvent.occurred_at >= now - dt.timedelta(days=days))
        .group_by(ConsentEvent.purpose_code, day, ConsentEvent.granted)
    )
    counted: dict[str, dict[tuple[str, bool], int]] = {}
    for purpose, when, granted, count in rows:
        counted.setdefault(purpose, {})[(str(when)[:10], bool(granted))] = int(count)
    return {
        purpose: [(d, found.get((d, True), 0), found.get((d, False), 0))
                  for d in last_days(now, days)]
        for purpose, found in sorted(counted.items())
    }  # fmt: skip


def consent_purposes(session: Session) -> list[str]:
    """The codes of the purposes whose legal basis is consent (those a customer may give and
    withdraw), in order."""
    query = sa.select(Purpose.code).where(Purpose.legal_basis == "consent")
    return list(session.scalars(query.order_by(Purpose.code)))
