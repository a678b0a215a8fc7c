"""The HTTP side of the audit trail: the context of the current request, events recorded in
the request's transaction, and refused attempts.

A refusal is recorded by the code that refuses (``refuse``), naming the customers the request
aimed at (``aim``). A request that ends refused (a 4xx answer on an API or admin route)
without having recorded its refusal gets one all the same, with the problem's code as its
reason and the customers it aimed at, so that no refused attempt goes unrecorded: that is the
request's own audit policy, kept here, not the error pages' business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Flask, Response, g, request
from sqlalchemy.orm import Session

from vault import runtime
from vault.audit.service import AuditContext, record_event
from vault.auth.principal import Principal
from vault.contexts import context_globals, current_request
from vault.db import at_request_end, db

# A customer id named in a refusal must look like one: the id came from the client.
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# Not recorded: a rate limit's answer (recording each would make the audit log the target of
# the flood it sheds) and a route that does not exist.
_UNRECORDED = {429}


def request_context(
    principal: Principal | None = None, actor_kind: str | None = None, purpose: str | None = None
) -> AuditContext:
    """Who acts in this request, for what purpose, from where (the request's own principal
    and stated purpose unless given)."""
    values = context_globals()
    principal = principal or values.get("principal")
    return AuditContext(
        actor_kind=actor_kind or (principal.kind if principal else "anonymous"),
        actor_id=principal.id if principal else "",
        purpose=(values.get("purpose") if purpose is None else purpose) or "",
        request_id=values.get("request_id") or "",
        client_address=current_request().remote_addr or "",
    )


def audit(
    action: str,
    *,
    customer_ids: Iterable[str] = (),
    field_names: Iterable[str] = (),
    outcome: str = "allowed",
    reason: str = "",
    principal: Principal | None = None,
    purpose: str | None = None,
) -> None:
    """Record an event in this request's transaction: it commits with the request's work or
    not at all ("no audit, no data"). On PostgreSQL its INSERT goes with the request's next
    statement or with its COMMIT, in one round trip (a failure then fails the commit, and
    the answer is the failure's, without the data)."""
    customer_ids = list(customer_ids)
    record_event(
        db.session,
        request_context(principal, purpose=purpose),
        action=action,
        outcome=outcome,
        now=runtime.now(),
        customer_ids=customer_ids,
        field_names=field_names,
        reason=reason,
        soon=True,
    )
    values = context_globals()
    values.setdefault("_vault_audit_events", []).append(action)
    if customer_ids:
        values.setdefault("_vault_audited_customers", []).extend(customer_ids)


def audited_customers() -> list[str]:
    """The customers this request's audit events named so far (what its answer may be
    about)."""
    found: list[str] = context_globals().get("_vault_audited_customers", [])
    return found


def aim(customer_ids: Iterable[str]) -> None:
    """Name the customers this request aims at: a refusal of it names them (ids that cannot
    be customer ids are left out)."""
    aimed: list[str] = context_globals().setdefault("_vault_aim", [])
    aimed += [c for c in customer_ids if isinstance(c, str) and _CUSTOMER_ID.match(c)]


def refuse(
    reason: str,
    *,
    action: str | None = None,
    customer_ids: Iterable[str] | None = None,
    principal: Principal | None = None,
    purpose: str | None = None,
) -> None:
    """Record a refused attempt (outcome ``denied``) naming ``customer_ids`` or, by default,
    the customers the request aimed at. It is written when the request ends, in a transaction
    of its own if the request's work is rolled back."""
    g._vault_refused = True
    context = request_context(principal, purpose=purpose)
    now = runtime.now()
    action = action or endpoint_action()
    customers = list(g.get("_vault_aim", []) if customer_ids is None else customer_ids)

    def write(session: Session) -> None:
        record_event(
            session, context, action=action, outcome="denied", now=now,
            customer_ids=customers, reason=reason,
        )  # fmt: skip

    at_request_end(write)


def endpoint_action() -> str:
    """A stable action name for a route: ``<blueprint>.<method>`` for the API, the page's
    name (``admin.<page>``) for the admin UI."""
    blueprint = request.blueprint or "app"
    if blueprint == "admin" and request.endpoint:
        return request.endpoint
    return f"{blueprint}.{request.method.lower()}"


def _refusal_code(response: Response) -> str:
    if response.mimetype == "application/problem+json":
        body = response.get_json(silent=True)
        code = body.get("code") if isinstance(body, dict) else None
        if isinstance(code, str):
            return code
    return f"http_{response.status_code}"


def _record_unrecorded_refusal(response: Response) -> Response:
    """after_request: a refused request that recorded no refusal of its own gets one."""
    status = response.status_code
    if not 400 <= status < 500 or status in _UNRECORDED or request.url_rule is None:
        return response
    if not request.path.startswith(("/api/", "/admin/")) or g.get("_vault_refused"):
        return response
    if db.session.info.get("vault.denials"):  # the request recorded its refusal itself
        return response
    refuse(_refusal_code(response))
    return response


def register_refusal_audit(app: Flask) -> None:
    """Record every refused API and admin request (registered after the database, so it runs
    before the request's transaction ends)."""
    app.after_request(_record_unrecorded_refusal)
