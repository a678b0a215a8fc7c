"""``/api/v1/customers``: governed access to customer records (API.md §2).

Every route states its purpose (``X-Purpose``), goes through the caller's access plan (which
fields are shown and how, which may be written, which rows are visible) and records one audit
event with the purpose, the customer ids and the field names. A customer the caller may not
see for this purpose is a 404, indistinguishable from an unknown id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, g
from flask_smorest import Blueprint

from vault import runtime
from vault.access.governed import GovernedAccess
from vault.api.auth import current_principal, current_purpose, purpose_guard
from vault.api.errors import problem
from vault.api.request_context import answered_options
from vault.api.schemas import (
    ConsentInSchema,
    CreateSchema,
    CustomerPageSchema,
    CustomerViewSchema,
    InteractionInSchema,
    ListQuerySchema,
    PatchSchema,
    SearchSchema,
)
from vault.audit_trail import aim, audit, refuse
from vault.customers.index_rows import DuplicateCustomer
from vault.customers.interactions import InteractionRecord, add_interaction, list_interactions
from vault.errors import Forbidden, ValidationFailed
from vault.governance.consent import (
    consents_dict,
    record_consent,
    require_grant_access,
)
from vault.governance.relationship import relationship_end
from vault.logs import get_logger
from vault.services import governed as governed_access

blueprint = Blueprint(
    "customers", __name__, url_prefix="/api/v1/customers", description="Governed customer records"
)
log = get_logger("vault.customers")


@blueprint.url_value_preprocessor
def aim_at_the_path_customer(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A refusal of any request about one customer names that customer: the path is read
    before every check (the input boundary's and the purpose's among them), so that a
    refusal by any of them names it too."""
    customer_id = (values or {}).get("customer_id")
    if customer_id:
        aim([customer_id])


blueprint.before_request(purpose_guard)


def governed() -> GovernedAccess:
    """The governed access of this request: its principal for the purpose it stated."""
    return governed_access(current_principal(), current_purpose())


@blueprint.after_request
def require_audit_event(response: Response) -> Response:
    """Fail closed: a customer-data answer that recorded no audit event is not sent (an
    answer to OPTIONS excepted: no route ran, nothing was read)."""
    if answered_options():
        return response
    if response.status_code < 400 and not g.get("_vault_audit_events"):
        log.error("audit.missing", endpoint=g.get("request_endpoint"))
        return problem(500, "audit_missing", "the access was not audited")
    return response


# --- routes ----------------------------------------------------------------------------------


@blueprint.post("")
@blueprint.arguments(CreateSchema)
@blueprint.response(201, CustomerViewSchema)
def create_customer(body: dict[str, Any]) -> dict[str, Any]:
    """Create a customer; 201 with the caller's scoped view."""
    ctx = governed()
    ctx.check_fields(body["values"], ctx.plan.creatable, "set")
    granted = [c["purpose"] for c in body["consents"] if c["granted"]]
    require_grant_access(ctx.principal, granted, ctx.plan_for)
    regions = ctx.principal.regions
    if regions is not None and body["region"] not in regions:
        raise Forbidden("you may not create customers in this region")
    try:
        customer_id = ctx.store.create(body["values"], region=body["region"])
    except DuplicateCustomer as exc:
        if exc.existing_id:
            aim([exc.existing_id])  # an existence probe is recorded against its target
            if ctx.visible([exc.existing_id]):
                exc.extra["existing_id"] = exc.existing_id
        raise
    for consent in body["consents"]:
        record_consent(ctx.store, customer_id, recorded_by=ctx.principal.id, **consent)
    audit("customer.create", customer_ids=[customer_id], field_names=body["values"])
    return ctx.read_views([customer_id])[0]


@blueprint.get("")
@blueprint.arguments(ListQuerySchema, location="query")
@blueprint.response(200, CustomerPageSchema)
def list_customers(args: dict[str, Any]) -> dict[str, Any]:
    """The customers this caller may see for this purpose, oldest first."""
    ctx = governed()
    if not ctx.plan.sees_customers:
        audit("customer.list")
        return {"items": [], "next_cursor": None}
    page = ctx.store.list_page(
        limit=args["limit"], cursor=args.get("cursor"), regions=ctx.principal.regions,
        only=ctx.row_filter,
    )  # fmt: skip
    items = ctx.read_views(page.ids)
    audit("customer.list", customer_ids=page.ids, field_names=ctx.plan.readable)
    return {"items": items, "next_cursor": page.next_cursor}


@blueprint.get("/<customer_id>")
@blueprint.response(200, CustomerViewSchema)
def get_customer(customer_id: str) -> dict[str, Any]:
    """The scoped view of one customer."""
    ctx = governed()
    ctx.require_visible(customer_id)
    audit("customer.read", customer_ids=[customer_id], field_names=ctx.plan.readable)
    return ctx.read_views([customer_id])[0]


@blueprint.patch("/<customer_id>")
@blueprint.arguments(PatchSchema)
@blueprint.response(200, CustomerViewSchema)
def update_customer(body: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """Change the fields this caller may write for this purpose (``null`` removes one), and
    record the end of the customer relationship (a retention trigger)."""
    ctx = governed()
    ctx.require_visible(customer_id)
    ctx.check_fields(body["values"], ctx.plan.writable, "change")
    ended = _relationship_end(ctx, customer_id, body) if "relationship_ended_at" in body else None
    changed = ctx.store.update(customer_id, body["values"]) if body["values"] else []
    reason = ""
    if "relationship_ended_at" in body:
        ctx.store.end_relationship(customer_id, ended)
        reason = "relationship_ended" if ended else "relationship_resumed"
    audit("customer.update", customer_ids=[customer_id], field_names=changed, reason=reason)
    return ctx.read_views([customer_id])[0]


def _relationship_end(
    ctx: GovernedAccess, customer_id: str, body: dict[str, Any]
) -> dt.datetime | None:
    """The relationship end to record (403 without the permission; 422, audited as a refusal,
    outside the backdating window: it would bring retention forward)."""
    try:
        return relationship_end(
            body["relationship_ended_at"], may_record=ctx.plan.relationship_write,
            now=ctx.store.now, backdate_days=runtime.settings().relationship_backdate_days,
        )  # fmt: skip
    except ValidationFailed:
        refuse("relationship_ended_at:out_of_range", action="customer.update",
               customer_ids=[customer_id])  # fmt: skip
        raise


@blueprint.post("/search")
@blueprint.arguments(SearchSchema)
@blueprint.response(200, CustomerPageSchema)
def search_customers(body: dict[str, Any]) -> dict[str, Any]:
    """Exact match on email or phone through the blind index."""
    ctx = governed()
    ((field, value),) = body.items()
    found = ctx.visible(ctx.store.search(field, value))
    audit("customer.search", customer_ids=found, field_names=[field, *ctx.plan.readable])
    return {"items": ctx.read_views(found), "next_cursor": None}


@blueprint.get("/<customer_id>/consents")
def get_consents(customer_id: str) -> dict[str, Any]:
    """Consent state per purpose with its full history."""
    ctx = governed()
    ctx.require_visible(customer_id)
    audit("consent.read", customer_ids=[customer_id])
    return consents_dict(ctx.store, customer_id)


@blueprint.post("/<customer_id>/consents")
@blueprint.arguments(ConsentInSchema)
@blueprint.response(201)
def add_consent(body: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """Append a consent event. Whoever may read the customer for the request's purpose may
    record a withdrawal for any purpose; a grant for a purpose needs write access for that
    purpose (403 otherwise, and nothing is recorded)."""
    ctx = governed()
    ctx.require_visible(customer_id)
    if body["granted"]:
        require_grant_access(ctx.principal, [body["purpose"]], ctx.plan_for)
    record_consent(ctx.store, customer_id, recorded_by=ctx.principal.id, **body)
    audit(
        "consent.change", customer_ids=[customer_id], reason=f"{body['purpose']}:{body['granted']}"
    )
    return consents_dict(ctx.store, customer_id)


def _interaction_dict(item: InteractionRecord) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "channel": item.channel,
        "occurred_at": item.occurred_at.isoformat(),
        "amount": str(item.amount) if item.amount is not None else None,
        "currency": item.currency,
        "text": item.text,
    }


@blueprint.get("/<customer_id>/interactions")
def get_interactions(customer_id: str) -> dict[str, Any]:
    """The interactions of the kinds this caller may read for this purpose."""
    ctx = governed()
    ctx.require_visible(customer_id)
    kinds = ctx.plan.interactions_read
    items = list_interactions(ctx.store, customer_id, kinds=kinds, with_text=True) if kinds else []
    audit(
        "interaction.read",
        customer_ids=[customer_id],
        field_names=[f"interactions:{k}" for k in kinds],
    )
    return {"items": [_interaction_dict(i) for i in items], "next_cursor": None}


@blueprint.post("/<customer_id>/interactions")
@blueprint.arguments(InteractionInSchema)
@blueprint.response(201)
def post_interaction(body: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """Record an interaction of a kind this caller may add for this purpose."""
    ctx = governed()
    ctx.require_visible(customer_id)
    if body["kind"] not in ctx.plan.interactions_write:
        raise Forbidden(f"you may not record {body['kind']} interactions for this purpose")
    occurred: dt.datetime | None = body["occurred_at"]
    interaction_id = add_interaction(ctx.store, customer_id, **{**body, "occurred_at": occurred})
    audit(
        "interaction.create",
        customer_ids=[customer_id],
        field_names=[f"interactions:{body['kind']}"],
    )
    items = list_interactions(ctx.store, customer_id, kinds={body["kind"]}, with_text=True)
    return _interaction_dict(next(i for i in items if i.id == interaction_id))
