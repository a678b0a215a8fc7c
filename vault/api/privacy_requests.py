"""``/api/v1/privacy-requests``: the compliance officers' queue of data-subject requests, with
due dates (received + 30 days, extendable once with a reason) and overdue flags; officers
file requests that customers made by phone or letter, recording the identity check."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.idempotency import idempotent
from vault.api.public_urls import base_url
from vault.api.schemas import as_documented, page_schema
from vault.governance.models import (
    FILED_REQUEST_TYPES,
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
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(FILED_REQUEST_TYPES))
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


class NoticeSchema(ma.Schema):
    """A system told of an erasure (``vault.events.notices.Notice``)."""

    system = ma.fields.String(metadata={"description": "the subscription's or client's name"})
    client = ma.fields.String()
    event_id = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, delivered, failed or feed"})
    delivered_at = ma.fields.AwareDateTime(allow_none=True)
    acknowledged_at = ma.fields.AwareDateTime(allow_none=True)


class SignatureSchema(ma.Schema):
    algorithm = ma.fields.String()
    value = ma.fields.String()


class CertificateSchema(ma.Schema):
    """An erasure's signed deletion certificate (``vault.privacy.documents``): as stored, or
    as of now with the systems told of it (``recipients``, ``as_of``)."""

    certificate = ma.fields.String(metadata={"description": "its kind and version"})
    request_id = ma.fields.String()
    customer_id = ma.fields.String()
    erased_at = ma.fields.AwareDateTime()
    destroyed = ma.fields.Dict(keys=ma.fields.String())
    kept = ma.fields.List(ma.fields.String())
    recipients = ma.fields.List(ma.fields.Nested(NoticeSchema))
    as_of = ma.fields.AwareDateTime()
    signature = ma.fields.Nested(SignatureSchema)


class PrivacyRequestSchema(ma.Schema):
    """A request in the queue (``vault.privacy.queue.request_dict``); no personal value."""

    id = ma.fields.String()
    type = ma.fields.String(metadata={"description": ", ".join(PRIVACY_REQUEST_TYPES)})
    purposes = ma.fields.List(
        ma.fields.String(), metadata={"description": "the purposes a withdraw_consent names"}
    )
    status = ma.fields.String(metadata={"description": ", ".join(PRIVACY_REQUEST_STATUSES)})
    reason = ma.fields.String(metadata={"description": "why it was rejected, or empty"})
    channel = ma.fields.String(metadata={"description": ", ".join(PRIVACY_CHANNELS)})
    customer_id = ma.fields.String(allow_none=True)
    identity_check = ma.fields.String()
    filed_by = ma.fields.String()
    received_at = ma.fields.AwareDateTime()
    due_at = ma.fields.AwareDateTime()
    overdue = ma.fields.Boolean()
    extended = ma.fields.Boolean()
    extension_reason = ma.fields.String(allow_none=True)
    verified_at = ma.fields.AwareDateTime(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)
    certificate = ma.fields.Nested(
        CertificateSchema, allow_none=True, metadata={"description": "a completed erasure's"}
    )
    notified = ma.fields.List(
        ma.fields.Nested(NoticeSchema), metadata={"description": "erasures: the systems told of it"}
    )
    awaiting_acknowledgement = ma.fields.Boolean(
        metadata={"description": "erasures: whether a system has still to acknowledge it"}
    )


PrivacyRequestPageSchema = page_schema("PrivacyRequestPageSchema", PrivacyRequestSchema)


def _queue() -> PrivacyQueue:
    return services.privacy_queue(current_principal(), base_url=base_url())


@blueprint.get("")
@blueprint.arguments(QueueQuerySchema, location="query", unknown=ma.RAISE)
@blueprint.response(200, PrivacyRequestPageSchema)
def list_requests(args: dict[str, Any]) -> Response:
    """The queue, soonest due first; filters ``status``, ``type``, ``overdue``,
    ``awaiting_acknowledgement``. An erasure lists the systems told of it (``notified``) and
    whether one has still to acknowledge it."""
    queue = _queue()
    page = queue.page(status=args.get("status"), kind=args.get("type"),
                      overdue=args.get("overdue"), awaiting=args.get("awaiting_acknowledgement"),
                      limit=args["limit"], cursor=args.get("cursor"))  # fmt: skip
    return as_documented({"items": queue.views(page.items), "next_cursor": page.next_cursor})


@blueprint.get("/<request_id>")
@blueprint.response(200, PrivacyRequestSchema)
def get_one(request_id: str) -> Response:
    """One request, with its deletion certificate once an erasure is done: as of now, with
    the subscribed systems told of it and when each acknowledged."""
    queue = _queue()
    return as_documented(queue.view(queue.get(request_id)))


@blueprint.post("")
@idempotent
@blueprint.arguments(FileRequestSchema)
@blueprint.response(201, PrivacyRequestSchema)
def file_request(body: dict[str, Any]) -> Response:
    """File a request a customer made by phone, letter, e-mail or in person, after checking
    who they are (``identity_check``). It proceeds at once: an erasure is carried out (or
    refused under a legal hold); an export's one-time link goes to the address on file."""
    queue = _queue()
    item = queue.file(body["type"], body["customer_id"], channel=body["channel"],
                      identity_check=body["identity_check"])  # fmt: skip
    return as_documented(queue.view(item), 201)


@blueprint.post("/<request_id>/extend")
@blueprint.arguments(ExtendSchema)
@blueprint.response(200, PrivacyRequestSchema)
def extend(body: dict[str, Any], request_id: str) -> Response:
    """Extend the due date by two months, once, with the reason (GDPR Art. 12(3))."""
    queue = _queue()
    return as_documented(queue.view(queue.extend(request_id, reason=body["reason"])))
