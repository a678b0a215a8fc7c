"""Consent: an append-only history of events per (customer, purpose), and the current state
derived from the newest event, kept in the same transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from vault import codes
from vault.auth.principal import Principal
from vault.codes import is_code
from vault.customers.models import Customer
from vault.customers.service import CustomerStore
from vault.errors import Forbidden, ValidationFailed
from vault.events import outbox
from vault.governance.models import ConsentEvent, ConsentState
from vault.policies.models import Purpose
from vault.policies.plan import AccessPlan

MAX_EVIDENCE = 4_000


@dataclasses.dataclass(frozen=True, slots=True)
class ConsentRecord:
    purpose: str
    granted: bool
    occurred_at: dt.datetime
    source: str
    notice_version: str
    recorded_by: str
    has_evidence: bool


def record_consent(
    store: CustomerStore,
    customer_id: str,
    *,
    purpose: str,
    granted: bool,
    source: str,
    notice_version: str = "",
    evidence: str | None = None,
    recorded_by: str = "",
    occurred_at: dt.datetime | None = None,
    announce: bool = True,
) -> int:
    """Append a consent event and update the derived state; returns the event id. A change
    of the state is announced to consumer systems (``consent.changed``) unless ``announce``
    is false (the consents given with a new customer: its ``customer.created`` stands for
    them). Raises ``NotFound`` (customer) and ``ValidationFailed`` (unknown purpose, a
    source that is not code-shaped (``vault.codes``)...)."""
    errors: dict[str, list[str]] = {}
    if not is_code(source):
        # a source outlives anonymisation: a code, never free text that could name someone
        errors["source"] = [f"must be {codes.DESCRIPTION}"]
    if len(notice_version) > 32:
        errors["notice_version"] = ["must be at most 32 characters"]
    if evidence is not None and len(evidence) > MAX_EVIDENCE:
        errors["evidence"] = [f"must be at most {MAX_EVIDENCE} characters"]
    if store.session.get(Purpose, purpose) is None:
        errors["purpose"] = ["unknown purpose"]
    if errors:
        raise ValidationFailed("the consent event is invalid", errors=errors)
    region = store.require_active(customer_id)
    # Locks the customer's row first: events about one customer are written in commit order.
    store.touch(customer_id)
    when = occurred_at or store.now
    state = store.session.get(ConsentState, (customer_id, purpose))
    announced = announce and (
        state is None or (when >= state.updated_at and state.granted != granted)
    )
    given_before = state is not None and state.granted
    event = ConsentEvent(
        customer_id=customer_id,
        purpose_code=purpose,
        granted=granted,
        occurred_at=when,
        source=source,
        notice_version=notice_version,
        recorded_by=recorded_by,
        created_at=store.now,
    )
    store.session.add(event)
    store.session.flush()
    if evidence:
        event.evidence_ciphertext = store.cipher_for(customer_id).encrypt(
            f"consent:{event.id}:evidence", evidence.encode()
        )
    # The state follows the latest event by time (an event may be recorded late).
    if state is None:
        state = ConsentState(customer_id=customer_id, purpose_code=purpose, updated_at=when)
        store.session.add(state)
    if when >= state.updated_at:
        state.granted, state.updated_at, state.event_id = granted, when, event.id
    if granted:  # a customer created in this transaction: its creation's audience widens
        outbox.granted(store.session, customer_id, purpose)
    store.session.flush()
    if announced:
        # Written last, so that on PostgreSQL it goes with the COMMIT rather than with a
        # round trip of its own before the flush. Who may hear of it: those who saw the
        # customer before (the consents as they are now, and this purpose if it was given
        # before this withdrawal) and those who see it once this consent is given.
        outbox.record(store.session, "consent.changed", [customer_id], now=store.now,
                      regions={customer_id: region}, purpose=purpose, data={"granted": granted},
                      also=purpose if (granted or given_before) else None)  # fmt: skip
    return event.id


def require_grant_access(
    principal: Principal, purposes: Iterable[str], plan_for: Callable[[str], AccessPlan]
) -> None:
    """Recording that a customer granted consent to a purpose makes it visible for that
    purpose, so it needs write access for that purpose itself, not for the request's: the
    principal may state it and its plan for it (``plan_for``: compiled and cached, never the
    policy engine per call) allows writing. A withdrawal needs no such check (API.md §2).
    Raises ``Forbidden`` naming the purposes refused."""
    refused = sorted(
        purpose
        for purpose in set(purposes)
        if purpose not in principal.purposes or not plan_for(purpose).writable
    )
    if refused:
        raise Forbidden(
            "recording a consent grant needs write access for its purpose: " + ", ".join(refused)
        )


def consent_overview(store: CustomerStore, customer_id: str) -> dict[str, dict[str, Any]]:
    """Per purpose: the current state and the full history, oldest first (no evidence)."""
    store.require_active(customer_id)
    events = store.session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.customer_id == customer_id)
        .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
    )
    states = {
        s.purpose_code: s
        for s in store.session.scalars(
            sa.select(ConsentState).where(ConsentState.customer_id == customer_id)
        )
    }
    overview: dict[str, dict[str, Any]] = {}
    for event in events:
        entry = overview.setdefault(event.purpose_code, {"history": []})
        entry["history"].append(
            ConsentRecord(
                event.purpose_code,
                event.granted,
                event.occurred_at,
                event.source,
                event.notice_version,
                event.recorded_by,
                event.evidence_ciphertext is not None,
            )
        )
    for purpose, entry in overview.items():
        state = states[purpose]
        entry["granted"] = state.granted
        entry["updated_at"] = state.updated_at
    return overview


def consents_dict(store: CustomerStore, customer_id: str) -> dict[str, Any]:
    """The API's view of a customer's consents: per purpose the state and its history."""
    return {
        "customer_id": customer_id,
        "purposes": {
            purpose: {
                "granted": entry["granted"],
                "updated_at": entry["updated_at"].isoformat(),
                "history": [
                    {
                        "granted": h.granted,
                        "occurred_at": h.occurred_at.isoformat(),
                        "source": h.source,
                        "notice_version": h.notice_version,
                        "recorded_by": h.recorded_by,
                        "has_evidence": h.has_evidence,
                    }
                    for h in entry["history"]
                ],
            }
            for purpose, entry in consent_overview(store, customer_id).items()
        },
    }


def consenting(purpose: str) -> sa.ColumnElement[bool]:
    """A row filter: customers whose current consent to ``purpose`` is granted."""
    return sa.exists().where(
        ConsentState.customer_id == Customer.id,
        ConsentState.purpose_code == purpose,
        ConsentState.granted.is_(True),
    )
