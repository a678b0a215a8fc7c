"""Recording audit events. An event is added to the caller's session, so it commits or rolls
back with the change it records ("no audit, no data")."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.canonical import clean, content_text, event_mac
from vault.audit.models import OUTCOMES, AuditEvent
from vault.db_deferred import insert_soon
from vault.errors import VaultError

AUDIT_KEY_LABEL = "vault/audit-head/v1"
_KEY_INFO = "vault.audit_key"


class AuditWriteFailed(VaultError, code="audit_unavailable", title="Audit Unavailable"):
    """The audit event could not be written, so the operation it records is refused."""


@dataclasses.dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts, for which purpose, in which request."""

    actor_kind: str
    actor_id: str = ""
    purpose: str = ""
    request_id: str = ""
    client_address: str = ""


SYSTEM = AuditContext(actor_kind="system", actor_id="vault")
_INSERT_ROW = sa.insert(AuditEvent)
_INSERT_EVENT = _INSERT_ROW.returning(AuditEvent.id)


def _write_failed(_error: Exception) -> AuditWriteFailed:
    return AuditWriteFailed("the audit trail cannot be written; nothing was done")


def bind_audit_key(session: Session, key: bytes | Callable[[], bytes]) -> None:
    """Give ``session`` the audit key (or a function that returns it, called when the first
    event is written): every event written through it carries a MAC under that key."""
    session.info[_KEY_INFO] = key


def audit_key(session: Session) -> bytes:
    """The audit key bound to ``session``. Raises ``AuditWriteFailed`` when none is: an event
    without its MAC is never written."""
    key = session.info.get(_KEY_INFO)
    if callable(key):
        key = session.info[_KEY_INFO] = key()
    if not isinstance(key, bytes):
        raise AuditWriteFailed("the audit key is not available; nothing was done")
    return key


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
    soon: bool = False,
) -> int | None:
    """Add one event (flushed, not committed) with its MAC; returns its id. With ``soon``
    (for a caller that needs no id) the INSERT may go with the transaction's next round trip
    (``vault.db_deferred.insert_soon``: with the COMMIT, on PostgreSQL) and None is returned. Never
    pass a value here: only ids and field names (control characters are replaced). Raises
    ``AuditWriteFailed`` when the session has no audit key or the database refuses the
    write (with ``soon``, maybe only at the next statement or the commit)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    key = audit_key(session)
    customers = sorted({clean(c) for c in customer_ids if c})
    values = {
        "occurred_at": now,
        "actor_kind": clean(context.actor_kind[:16]),
        "actor_id": clean(context.actor_id[:64]),
        "purpose": clean(context.purpose[:64]),
        "action": clean(action[:64]),
        "customer_ids": " ".join(customers),
        "field_names": " ".join(sorted({clean(f) for f in field_names if f})),
        "outcome": outcome,
        "reason": clean(reason[:64]),
        "request_id": clean(context.request_id[:128]),
        "client_address": clean(context.client_address[:64]),
    }
    values["mac"] = event_mac(key, content_text(values))
    try:
        # Core statements: an event is written on every request, the ORM's unit of work
        # would be most of its cost.
        # One row per event: the per-customer links ("who accessed my data") are written
        # by the sealer, in batches (vault.audit.integrity.link_customers).
        event_id: int | None = None
        if not (soon and insert_soon(session, _INSERT_ROW, values, _write_failed)):
            event_id = session.connection().execute(_INSERT_EVENT, values).scalar_one()
    except sa.exc.SQLAlchemyError as exc:
        raise AuditWriteFailed("the audit trail cannot be written; nothing was done") from exc
    if outcome == "denied":  # the unit of work knows this request recorded its refusal
        session.info["vault.denials"] = session.info.get("vault.denials", 0) + 1
    return event_id
