"""``/api/v1/privacy-requests``: the compliance officers' queue of data-subject requests, with
due dates (received + 30 days, extendable once with a reason) and overdue flags; officers
file requests that customers made by phone or letter, recording the identity check."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.idempotency import idempotent
from vault.api.public_urls import base_url
from vault.governance.models import (
    IDENTITY_CHECKS,
    PRIVACY_CHANNELS,
    PRIVACY_REQUEST_STATUSES,
    PRIVACY_REQUEST_TYPES,
)
from vault.privacy.queue import PrivacyQueue

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
    awaiting_acknowledgement = ma.fields.Boolean(
        metadata={"description": "completed erasures that a subscribed system has not yet"
                  " acknowledged (true), or the others (false)"}
    )  # fmt: skip
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


def _queue() -> PrivacyQueue:
    return services.privacy_queue(current_principal(), base_url=base_url())


@blueprint.get("")
@blueprint.arguments(QueueQuerySchema, location="query", unknown=ma.RAISE)
def list_requests(args: dict[str, Any]) -> dict[str, Any]:
    """The queue, soonest due first; filters ``status``, ``type``, ``overdue``,
    ``awaiting_acknowledgement``. An erasure lists the systems told of it (``notified``) and
    whether one has still to acknowledge it."""
    queue = _queue()
    page = queue.page(status=args.get("status"), kind=args.get("type"),
                      overdue=args.get("overdue"), awaiting=args.get("awaiting_acknowledgement"),
                      limit=args["limit"], cursor=args.get("cursor"))  # fmt: skip
    return {"items": queue.views(page.items), "next_cursor": page.next_cursor}


@blueprint.get("/<request_id>")
def get_one(request_id: str) -> dict[str, Any]:
    """One request, with its deletion certificate once an erasure is done: as of now, with
    the subscribed systems told of it and when each acknowledged."""
    queue = _queue()
    return queue.view(queue.get(request_id))


@blueprint.post("")
@idempotent
@blueprint.arguments(FileRequestSchema)
@blueprint.response(201)
def file_request(body: dict[str, Any]) -> dict[str, Any]:
    """File a request a customer made by phone, letter, e-mail or in person, after checking
    who they are (``identity_check``). It proceeds at once: an erasure is carried out (or
    refused under a legal hold); an export's one-time link goes to the address on file."""
    queue = _queue()
    item = queue.file(body["type"], body["customer_id"], channel=body["channel"],
                      identity_check=body["identity_check"])  # fmt: skip
    return queue.view(item)


@blueprint.post("/<request_id>/extend")
@blueprint.arguments(ExtendSchema)
def extend(body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """Extend the due date by two months, once, with the reason (GDPR Art. 12(3))."""
    queue = _queue()
    return queue.view(queue.extend(request_id, reason=body["reason"]))
