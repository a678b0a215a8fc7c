"""``/api/v1/customers``: governed access to customer records (API.md §2).

Every route states its purpose (``X-Purpose``), goes through the caller's access plan (which
fields are shown and how, which may be written, which rows are visible) and records one audit
event with the purpose, the customer ids and the field names. A customer the caller may not
see for this purpose is a 404, indistinguishable from an unknown id.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, g, request
from flask_smorest import Blueprint
from marshmallow import RAISE
from werkzeug.http import parse_etags

from vault.access.bulk import Created, create_batch, lookup
from vault.access.governed import UNCHANGED, GovernedAccess
from vault.api.auth import current_principal, current_purpose, purpose_guard
from vault.api.errors import flatten_messages, problem, vault_error_body
from vault.api.idempotency import idempotent
from vault.api.request_context import answered_options
from vault.api.schemas import (
    BatchResultSchema,
    BatchSchema,
    ConsentInSchema,
    ConsentsSchema,
    CreateSchema,
    CustomerListSchema,
    CustomerPageSchema,
    CustomerViewSchema,
    InteractionInSchema,
    InteractionPageSchema,
    InteractionSchema,
    ListQuerySchema,
    LookupSchema,
    PatchSchema,
    SearchSchema,
    as_documented,
    view_body,
)
from vault.audit_trail import aim
from vault.contexts import context_globals
from vault.customers.interactions import InteractionRecord, interaction_dict
from vault.errors import ValidationFailed, VaultError
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
    if response.status_code < 400 and not context_globals().get("_vault_audit_events"):
        log.error("audit.missing", endpoint=g.get("request_endpoint"))
        return problem(500, "audit_missing", "the access was not audited")
    return response


def _with_etag(view: dict[str, Any]) -> Response:
    response = as_documented(view_body(view))
    response.set_etag(view["version"])
    return response


def _if_match() -> frozenset[str] | None:
    """The versions ``If-Match`` names (``*``: any), None without the header. A weak tag
    names none: ``If-Match`` compares strongly (RFC 9110)."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tags = parse_etags(header)
    if tags.star_tag:
        return frozenset({"*"})
    return frozenset(tags.as_set(include_weak=False))


# --- routes ----------------------------------------------------------------------------------


@blueprint.post("")
@idempotent
@blueprint.arguments(CreateSchema)
@blueprint.response(201, CustomerViewSchema)
def create_customer(body: dict[str, Any]) -> Response:
    """Create a customer; 201 with the caller's scoped view."""
    view = governed().create(body["values"], region=body["region"], consents=body["consents"])
    return as_documented(view_body(view), 201)


@blueprint.get("")
@blueprint.arguments(ListQuerySchema, location="query", unknown=RAISE)
@blueprint.response(200, CustomerPageSchema)
def list_customers(args: dict[str, Any]) -> Response:
    """The customers this caller may see for this purpose, oldest first."""
    items, next_cursor = governed().page(limit=args["limit"], cursor=args.get("cursor"))
    return as_documented({"items": [view_body(v) for v in items], "next_cursor": next_cursor})


_ETAG = {
    "ETag": {
        "description": "The version of the customer's record, for If-Match",
        "schema": {"type": "string"},
    }
}
_IF_MATCH = {
    "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
    "description": "Apply the change only if the record is still at one of these versions "
                   "(ETags of GET /customers/{id}, or *); otherwise 412 precondition_failed",
}  # fmt: skip


@blueprint.get("/<customer_id>")
@blueprint.response(200, CustomerViewSchema, headers=_ETAG)
def get_customer(customer_id: str) -> Response:
    """The scoped view of one customer, with the version of its record as its ``ETag`` (for
    ``If-Match`` on ``PATCH``)."""
    return _with_etag(governed().read(customer_id))


@blueprint.patch("/<customer_id>")
@blueprint.arguments(PatchSchema)
@blueprint.response(200, CustomerViewSchema, headers=_ETAG)
@blueprint.alt_response(412, description="If-Match names a version the record is no longer at")
@blueprint.doc(parameters=[_IF_MATCH])
def update_customer(body: dict[str, Any], customer_id: str) -> Response:
    """Change the fields this caller may write for this purpose (``null`` removes one), and
    record the end of the customer relationship (a retention trigger)."""
    ended = body.get("relationship_ended_at", UNCHANGED)
    view = governed().update(customer_id, body["values"], relationship_ended_at=ended,
                             if_match=_if_match())  # fmt: skip
    return _with_etag(view)


def _item(raw: dict[str, Any]) -> dict[str, Any] | VaultError:
    """One item of a batch as ``create_customer`` would read it, or its 422."""
    try:
        loaded: dict[str, Any] = _CREATE.load(raw)
    except ma.ValidationError as exc:
        return ValidationFailed("the request has invalid or missing fields",
                                errors=flatten_messages(exc.messages))  # fmt: skip
    return loaded


_CREATE = CreateSchema()


@blueprint.post("/batch")
@idempotent
@blueprint.arguments(BatchSchema)
@blueprint.response(207, BatchResultSchema)
def create_customers(body: dict[str, Any]) -> Response:
    """Create up to 500 customers, each alone: 207 with one result per item, in order (201
    with the id and the caller's view, or the item's problem). A refused item leaves
    nothing; the others are created. One audit event names every customer created."""
    results = create_batch(governed(), [_item(raw) for raw in body["items"]])
    items = [
        {"index": r.index, "status": 201, "id": r.customer_id, "customer": view_body(r.view)}
        if isinstance(r, Created)
        else {"index": r.index, **vault_error_body(r.error)}
        for r in results
    ]
    return as_documented({"items": items}, 207)


@blueprint.post("/lookup")
@blueprint.arguments(LookupSchema)
@blueprint.response(200, CustomerListSchema)
def lookup_customers(body: dict[str, Any]) -> Response:
    """The scoped views of up to 500 customers by id, in the order asked: those the caller
    may not see for this purpose (or that do not exist) are simply absent."""
    return as_documented({"items": [view_body(v) for v in lookup(governed(), body["ids"])]})


@blueprint.post("/search")
@blueprint.arguments(SearchSchema)
@blueprint.response(200, CustomerPageSchema)
def search_customers(body: dict[str, Any]) -> Response:
    """Exact match on email or phone through the blind index."""
    ((field, value),) = body.items()
    items = [view_body(v) for v in governed().search(field, value)]
    return as_documented({"items": items, "next_cursor": None})


@blueprint.get("/<customer_id>/consents")
@blueprint.response(200, ConsentsSchema)
def get_consents(customer_id: str) -> Response:
    """Consent state per purpose with its full history."""
    return as_documented(governed().consents(customer_id))


@blueprint.post("/<customer_id>/consents")
@idempotent
@blueprint.arguments(ConsentInSchema)
@blueprint.response(201, ConsentsSchema)
def add_consent(body: dict[str, Any], customer_id: str) -> Response:
    """Append a consent event. Whoever may read the customer for the request's purpose may
    record a withdrawal for any purpose; a grant for a purpose needs write access for that
    purpose (403 otherwise, and nothing is recorded)."""
    return as_documented(governed().record_consent(customer_id, body), 201)


def _interaction_dict(item: InteractionRecord) -> dict[str, Any]:
    return interaction_dict(item, item.text)


@blueprint.get("/<customer_id>/interactions")
@blueprint.response(200, InteractionPageSchema)
def get_interactions(customer_id: str) -> Response:
    """The interactions of the kinds this caller may read for this purpose."""
    items = governed().interactions(customer_id)
    return as_documented({"items": [_interaction_dict(i) for i in items], "next_cursor": None})


@blueprint.post("/<customer_id>/interactions")
@idempotent
@blueprint.arguments(InteractionInSchema)
@blueprint.response(201, InteractionSchema)
def post_interaction(body: dict[str, Any], customer_id: str) -> Response:
    """Record an interaction of a kind this caller may add for this purpose."""
    return as_documented(_interaction_dict(governed().add_interaction(customer_id, body)), 201)
