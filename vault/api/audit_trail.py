"""The HTTP side of the audit trail: the context of the current request, events recorded in
the request's transaction, and denials recorded after the rollback of a refused request."""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, request

from vault import runtime
from vault.audit.service import AuditContext, record_event
from vault.auth.principal import Principal
from vault.db import after_rollback, db


def request_context(
    principal: Principal | None = None, actor_kind: str | None = None
) -> AuditContext:
    principal = principal or g.get("principal")
    return AuditContext(
        actor_kind=actor_kind or (principal.kind if principal else "anonymous"),
        actor_id=principal.id if principal else "",
        purpose=g.get("purpose") or "",
        request_id=g.get("request_id") or "",
        client_address=request.remote_addr or "",
    )


def audit(
    action: str,
    *,
    customer_ids: Iterable[str] = (),
    field_names: Iterable[str] = (),
    outcome: str = "allowed",
    reason: str = "",
    principal: Principal | None = None,
) -> int:
    """Record an event in this request's transaction: it commits with the request's work or
    not at all ("no audit, no data")."""
    event_id = record_event(
        db.session,
        request_context(principal),
        action=action,
        outcome=outcome,
        now=runtime.now(),
        customer_ids=customer_ids,
        field_names=field_names,
        reason=reason,
    )
    g.setdefault("_vault_audit_events", []).append(event_id)
    return event_id


def audit_denial(action: str, reason: str, *, customer_ids: Iterable[str] = ()) -> None:
    """Record a refused attempt; it is written after the request's work is rolled back."""
    context = request_context()
    now = runtime.now()
    customers = list(customer_ids)

    def write(session: object) -> None:
        record_event(
            db.session, context, action=action, outcome="denied", now=now,
            customer_ids=customers, reason=reason,
        )  # fmt: skip

    after_rollback(write)


def endpoint_action() -> str:
    """A stable action name for a route: ``<blueprint>.<method>``."""
    blueprint = request.blueprint or "app"
    return f"{blueprint}.{request.method.lower()}"
