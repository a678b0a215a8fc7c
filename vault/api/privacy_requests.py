"""``/api/v1/privacy-requests``: the compliance officers' queue of data-subject requests, with
due dates (received + 30 days, extendable once with a reason) and overdue flags; officers
file requests that customers made by phone or letter, recording the identity check."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from vault import runtime
from vault.api.auth import current_principal
from vault.api.public_urls import base_url
from vault.audit_trail import audit, request_context
from vault.db import db
from vault.governance.models import (
    IDENTITY_CHECKS,
    PRIVACY_CHANNELS,
    PRIVACY_REQUEST_STATUSES,
    PRIVACY_REQUEST_TYPES,
)
from vault.privacy.desk import PrivacyDesk
from vault.privacy.queue import get_request, queue_page, request_dict
from vault.services import follow_up

blueprint = Blueprint(
    "privacy_requests",
    __name__,
    url_prefix="/api/v1/privacy-requests",
    description="Data-subject requests (compliance officers)",
)


class QueueQuerySchema(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(PRIVACY_REQUEST_STATUSES))
    type = ma.fields.String(validate=ma.validate.OneOf(PRIVACY_REQUEST_TYPES))
    overdue = ma.fields.Boolean()
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.String(validate=ma.validate.Length(max=200))


class FileRequestSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(PRIVACY_REQUEST_TYPES))
    customer_id = ma.fields.String(required=True, validate=ma.validate.Length(max=40))
    channel = ma.fields.String(
        required=True, validate=ma.validate.OneOf([c for c in PRIVACY_CHANNELS if c != "portal"])
    )
    identity_check = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf([c for c in IDENTITY_CHECKS if c != "email_code"]),
    )


class ExtendSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=5, max=500))


def _officer() -> str:
    return current_principal().require_role(
        "compliance_officer", because="the privacy-request queue is for compliance officers"
    )


@blueprint.get("")
@blueprint.arguments(QueueQuerySchema, location="query")
def list_requests(args: dict[str, Any]) -> dict[str, Any]:
    """The queue, soonest due first; filters ``status``, ``type``, ``overdue``."""
    _officer()
    now = runtime.now()
    page = queue_page(
        db.session, now=now, cursors=runtime.cursor_signer(), status=args.get("status"),
        kind=args.get("type"), overdue=args.get("overdue"), limit=args["limit"],
        cursor=args.get("cursor"),
    )  # fmt: skip
    audit("privacy_request.read", customer_ids=[r.customer_id for r in page.items if r.customer_id])
    return {"items": [request_dict(r, now) for r in page.items], "next_cursor": page.next_cursor}


@blueprint.get("/<request_id>")
def get_one(request_id: str) -> dict[str, Any]:
    """One request, with its deletion certificate once an erasure is done."""
    _officer()
    item = get_request(db.session, request_id)
    audit("privacy_request.read", customer_ids=[item.customer_id] if item.customer_id else [])
    return request_dict(item, runtime.now())


@blueprint.post("")
@blueprint.arguments(FileRequestSchema)
@blueprint.response(201)
def file_request(body: dict[str, Any]) -> dict[str, Any]:
    """File a request a customer made by phone, letter, e-mail or in person, after checking
    who they are (``identity_check``). It proceeds at once: an erasure is carried out (or
    refused under a legal hold); an export's one-time link goes to the address on file."""
    officer = _officer()
    desk = PrivacyDesk(runtime.customer_store(), request_context(), base_url=base_url())
    item, outgoing = desk.file(
        body["type"], body["customer_id"], channel=body["channel"],
        identity_check=body["identity_check"], by=officer,
    )  # fmt: skip
    follow_up(desk, outgoing, item.id)
    return request_dict(item, runtime.now())


@blueprint.post("/<request_id>/extend")
@blueprint.arguments(ExtendSchema)
def extend(body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """Extend the due date by two months, once, with the reason (GDPR Art. 12(3))."""
    officer = _officer()
    desk = PrivacyDesk(runtime.customer_store(), request_context())
    item = desk.extend(request_id, reason=body["reason"], by=officer)
    return request_dict(item, runtime.now())
