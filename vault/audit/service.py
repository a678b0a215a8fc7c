"""Recording audit events. An event is added to the caller's session, so it commits or rolls
back with the change it records ("no audit, no data")."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.models import OUTCOMES, AuditEvent
from vault.errors import VaultError


class AuditWriteFailed(VaultError):
    """The audit event could not be written, so the operation it records is refused."""

    code = "audit_unavailable"
    title = "Audit Unavailable"


@dataclasses.dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts, for which purpose, in which request."""

    actor_kind: str
    actor_id: str = ""
    purpose: str = ""
    request_id: str = ""
    client_address: str = ""


SYSTEM = AuditContext(actor_kind="system", actor_id="vault")
_INSERT_EVENT = sa.insert(AuditEvent).returning(AuditEvent.id)


def record_event(
    session: Session,
    context: AuditContext,
    *,
    action: str,
    outcome: str,
    now: dt.datetime,
    customer_ids: Iterable[str] = (),
    field_names: Iterable[str] = (),
    reason: str = "",
) -> int:
    """Add one event (flushed, not committed); returns its id. Never pass a value here: only
    ids and field names. Raises ``AuditWriteFailed`` when the database refuses the write."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    customers = sorted(set(customer_ids))
    values = {
        "occurred_at": now,
        "actor_kind": context.actor_kind,
        "actor_id": context.actor_id[:64],
        "purpose": context.purpose[:64],
        "action": action,
        "customer_ids": " ".join(customers),
        "field_names": " ".join(sorted(set(field_names))),
        "outcome": outcome,
        "reason": reason[:64],
        "request_id": context.request_id[:128],
        "client_address": context.client_address[:64],
    }
    try:
        # Core statements: an event is written on every request, the ORM's unit of work
        # would be most of its cost.
        # One row per event: the per-customer links ("who accessed my data") are written
        # by the sealer, in batches (vault.audit.integrity.link_customers).
        event_id: int = session.connection().execute(_INSERT_EVENT, values).scalar_one()
    except sa.exc.SQLAlchemyError as exc:
        raise AuditWriteFailed("the audit trail cannot be written; nothing was done") from exc
    return event_id
