"""``/api/v1/ownership`` and ``/api/v1/access-requests``: data owners per category, and staff
requests for scoped views that the owners approve, deny or revoke. An approved grant's
customers are read through ``/api/v1/access-requests/{id}/customers`` (a customer-data route:
``X-Purpose`` and an audit event, like ``/customers``)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from vault.api.auth import GRANT_BLUEPRINT, current_principal, purpose_guard
from vault.api.customers import governed, require_audit_event
from vault.api.idempotency import idempotent
from vault.api.schemas import CustomerPageSchema, as_documented, page_schema
from vault.governance.access_desk import RequestView
from vault.services import access_desk, catalogue_admin

ownership_blueprint = Blueprint(
    "ownership", __name__, url_prefix="/api/v1/ownership", description="Data owners"
)
requests_blueprint = Blueprint(
    "access_requests", __name__, url_prefix="/api/v1/access-requests", description="Access requests"
)
grant_blueprint = Blueprint(
    GRANT_BLUEPRINT,
    __name__,
    url_prefix="/api/v1/access-requests/<request_id>/customers",
    description="Customers of an approved access grant",
)
grant_blueprint.before_request(purpose_guard)
grant_blueprint.after_request(require_audit_event)


class OwnerInSchema(ma.Schema):
    user_id = ma.fields.String(required=True, validate=ma.validate.Length(max=40))


class RequestInSchema(ma.Schema):
    purpose = ma.fields.String(required=True, validate=ma.validate.Length(max=64))
    wanted_fields = ma.fields.List(ma.fields.String(), load_default=list, data_key="fields")
    categories = ma.fields.List(ma.fields.String(), load_default=list)
    customer_ids = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=40)), load_default=list
    )
    region = ma.fields.String(load_default="", validate=ma.validate.Length(max=16))
    justification = ma.fields.String(required=True, validate=ma.validate.Length(max=1000))
    duration_days = ma.fields.Integer(required=True)


class OwnersSchema(ma.Schema):
    owners = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "category -> its data owner's user id"},
    )


class AccessRequestSchema(ma.Schema):
    """An access request (``_request_dict``)."""

    id = ma.fields.String()
    requester_id = ma.fields.String()
    purpose = ma.fields.String()
    # "fields" on the wire: a schema's own ``fields`` must not be shadowed
    wanted_fields = ma.fields.List(ma.fields.String(), data_key="fields")
    categories = ma.fields.List(ma.fields.String())
    customer_ids = ma.fields.List(ma.fields.String(), metadata={"description": "empty: any"})
    region = ma.fields.String(allow_none=True, metadata={"description": "null: any region"})
    justification = ma.fields.String()
    duration_days = ma.fields.Integer()
    status = ma.fields.String()
    approvals = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                               metadata={"description": "category -> approving owner"})  # fmt: skip
    created_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime(allow_none=True)


AccessRequestPageSchema = page_schema("AccessRequestPageSchema", AccessRequestSchema)


@ownership_blueprint.get("")
@ownership_blueprint.response(200, OwnersSchema)
def get_owners() -> Response:
    """The data owner (a user id) of each category that has one."""
    return as_documented({"owners": catalogue_admin(current_principal()).owners()})


@ownership_blueprint.put("/<category>")
@ownership_blueprint.arguments(OwnerInSchema)
@ownership_blueprint.response(200, OwnersSchema)
def put_owner(body: dict[str, Any], category: str) -> Response:
    """Make a data owner the owner of a category (admins)."""
    owners = catalogue_admin(current_principal()).set_owner(category, body["user_id"])
    return as_documented({"owners": owners})


def _request_dict(view: RequestView) -> dict[str, Any]:
    request = view.request
    return {
        "id": request.id,
        "requester_id": request.requester_id,
        "purpose": request.purpose,
        "fields": request.fields.split(),
        "categories": request.categories.split(),
        "customer_ids": request.customer_ids.split(),
        "region": request.region or None,
        "justification": view.justification,
        "duration_days": request.duration_days,
        "status": view.status,
        "approvals": request.approvals,
        "created_at": request.created_at.isoformat(),
        "expires_at": request.expires_at.isoformat() if request.expires_at else None,
    }


@requests_blueprint.get("")
@requests_blueprint.response(200, AccessRequestPageSchema)
def list_requests() -> Response:
    """Your requests and those covering categories you own (everything for admins and
    compliance officers)."""
    items = [_request_dict(v) for v in access_desk(current_principal()).visible()]
    return as_documented({"items": items, "next_cursor": None})


@requests_blueprint.post("")
@idempotent
@requests_blueprint.arguments(RequestInSchema)
@requests_blueprint.response(201, AccessRequestSchema)
def post_request(body: dict[str, Any]) -> Response:
    """Ask for a scoped view; 422 for a request for nothing, for ever, or without owners."""
    fields = body.pop("wanted_fields")
    view = access_desk(current_principal()).create(fields=fields, **body)
    return as_documented(_request_dict(view), 201)


@requests_blueprint.post("/<request_id>/approve")
@requests_blueprint.response(200, AccessRequestSchema)
def approve(request_id: str) -> Response:
    """Approve the categories you own; the grant starts when every category is approved."""
    return _decided(request_id, "approve")


@requests_blueprint.post("/<request_id>/deny")
@requests_blueprint.response(200, AccessRequestSchema)
def deny(request_id: str) -> Response:
    """Deny the request."""
    return _decided(request_id, "deny")


@requests_blueprint.post("/<request_id>/revoke")
@requests_blueprint.response(200, AccessRequestSchema)
def revoke_request(request_id: str) -> Response:
    """End the grant (requester, owner or admin)."""
    return _decided(request_id, "revoke")


def _decided(request_id: str, verb: str) -> Response:
    """The request after ``verb`` (approve, deny or revoke), as the answer."""
    return as_documented(_request_dict(access_desk(current_principal()).decide(request_id, verb)))


@grant_blueprint.get("")
@grant_blueprint.response(200, CustomerPageSchema)
def grant_customers(request_id: str) -> dict[str, Any]:
    """The grant's customers, with the granted fields in clear besides the role's own view;
    only for the requester, for the grant's purpose, while it is active."""
    return {"items": governed().read_grant(request_id), "next_cursor": None}
