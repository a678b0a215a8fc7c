"""Events for consumer systems (API.md §5): ``/api/v1/subscriptions`` (admins manage webhook
endpoints bound to an API client), ``/api/v1/events`` (the pull feed of an API client, oldest
first) and ``POST /api/v1/events/{id}/ack``. Bodies carry ids and field names, never values."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.directory import not_cached, page_answer
from vault.api.idempotency import idempotent
from vault.api.schemas import ListQuerySchema, page_schema
from vault.api.times import AwareTime
from vault.events.models import EVENT_TYPES, Delivery, Subscription
from vault.events.subscriptions import SubscriptionDesk

subscriptions_blueprint = Blueprint(
    "subscriptions", __name__, url_prefix="/api/v1/subscriptions",
    description="Webhook subscriptions of consumer systems (admins)",
)  # fmt: skip
events_blueprint = Blueprint(
    "events", __name__, url_prefix="/api/v1/events",
    description="The event feed of an API client, and acknowledgements",
)  # fmt: skip
subscriptions_blueprint.after_request(not_cached)
events_blueprint.after_request(not_cached)

_EVENT_TYPE = ma.fields.String(validate=ma.validate.OneOf(EVENT_TYPES))


class SubscriptionSchema(ma.Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    url = ma.fields.String()
    client = ma.fields.String(metadata={"description": "id of the API client it is bound to"})
    events = ma.fields.List(ma.fields.String())
    status = ma.fields.String(metadata={"description": "active or paused"})
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


class NewSubscriptionSchema(SubscriptionSchema):
    secret = ma.fields.String(
        metadata={"description": "the signing secret (whsec_...), shown in this answer only"}
    )


SubscriptionPageSchema = page_schema("SubscriptionPageSchema", SubscriptionSchema)


class SubscriptionInSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128))
    url = ma.fields.String(required=True, validate=ma.validate.Length(max=2000))
    client = ma.fields.String(
        required=True, validate=ma.validate.Length(max=128),
        metadata={"description": "name (or id) of the API client whose sight bounds it"},
    )  # fmt: skip
    events = ma.fields.List(_EVENT_TYPE, required=True, validate=ma.validate.Length(min=1))


class SubscriptionPatchSchema(ma.Schema):
    url = ma.fields.String(validate=ma.validate.Length(max=2000))
    events = ma.fields.List(_EVENT_TYPE, validate=ma.validate.Length(min=1))
    status = ma.fields.String(validate=ma.validate.OneOf(("active", "paused")))


class ReplaySchema(ma.Schema):
    from_ = AwareTime(required=True, data_key="from")


class ReplayAnswerSchema(ma.Schema):
    queued = ma.fields.Integer()


class DeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    event_id = ma.fields.String()
    event_type = ma.fields.String()
    customer_id = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, delivered or failed"})
    attempts = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    last_attempt_at = ma.fields.AwareDateTime(allow_none=True)
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String()
    next_attempt_at = ma.fields.AwareDateTime(allow_none=True)
    delivered_at = ma.fields.AwareDateTime(allow_none=True)


DeliveryPageSchema = page_schema("DeliveryPageSchema", DeliverySchema)


class DeliveryQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.Integer(validate=ma.validate.Range(min=1))


class OutboxEventSchema(ma.Schema):
    id = ma.fields.String()
    type = ma.fields.String()
    occurred_at = ma.fields.String(metadata={"description": "ISO 8601, UTC"})
    customer_id = ma.fields.String(allow_none=True)
    field_names = ma.fields.List(ma.fields.String(), data_key="fields", attribute="fields",
                                 metadata={"description": "names, never values"})  # fmt: skip
    purpose = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()


class OutboxEventPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(OutboxEventSchema))
    next_cursor = ma.fields.String(
        metadata={"description": "where to go on from (`after`), also when nothing was new"}
    )
    has_more = ma.fields.Boolean()


class FeedQuerySchema(ma.Schema):
    after = ma.fields.String(validate=ma.validate.Length(max=200))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=500))


class AckSchema(ma.Schema):
    event_id = ma.fields.String()
    acknowledged_at = ma.fields.AwareDateTime()


def subscription_dict(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "name": subscription.name,
        "url": subscription.url,
        "client": subscription.client_id,
        "events": [t for t in subscription.event_types.split(",") if t],
        "status": subscription.status,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }


def _delivery_dict(delivery: Delivery, event_id: str, event_type: str) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": event_id,
        "event_type": event_type,
        "customer_id": delivery.customer_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": delivery.created_at,
        "last_attempt_at": delivery.last_attempt_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at if delivery.status == "pending" else None,
        "delivered_at": delivery.delivered_at,
    }


def _desk() -> SubscriptionDesk:
    return services.subscriptions(current_principal())


@subscriptions_blueprint.get("")
@subscriptions_blueprint.arguments(ListQuerySchema, location="query", unknown=ma.RAISE)
@subscriptions_blueprint.response(200, SubscriptionPageSchema)
def get_subscriptions(args: dict[str, Any]) -> dict[str, Any]:
    """Subscriptions in name order."""
    return page_answer(args, _desk().page, lambda s: s.name, subscription_dict)


@subscriptions_blueprint.post("")
@idempotent
@subscriptions_blueprint.arguments(SubscriptionInSchema)
@subscriptions_blueprint.response(201, NewSubscriptionSchema)
def post_subscription(body: dict[str, Any]) -> dict[str, Any]:
    """Subscribe a URL to event types, bound to an API client; the signing secret is in this
    answer only. 422 for a URL that is not http(s) (or is link-local), an unknown event type
    or client; 409 for a name taken."""
    subscription, secret = _desk().create(**body)
    return {**subscription_dict(subscription), "secret": secret}


@subscriptions_blueprint.get("/<subscription_id>")
@subscriptions_blueprint.response(200, SubscriptionSchema)
def get_subscription(subscription_id: str) -> dict[str, Any]:
    return subscription_dict(_desk().get(subscription_id))


@subscriptions_blueprint.patch("/<subscription_id>")
@subscriptions_blueprint.arguments(SubscriptionPatchSchema)
@subscriptions_blueprint.response(200, SubscriptionSchema)
def patch_subscription(body: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    """Change the URL or the event types, or pause (``"status": "paused"``) and resume
    (``"active"``): a paused subscription's deliveries wait, in order, until it resumes."""
    return subscription_dict(_desk().update(subscription_id, **body))


@subscriptions_blueprint.delete("/<subscription_id>")
@subscriptions_blueprint.response(204)
def delete_subscription(subscription_id: str) -> None:
    """Delete the subscription and its delivery log."""
    _desk().delete(subscription_id)


@subscriptions_blueprint.get("/<subscription_id>/deliveries")
@subscriptions_blueprint.arguments(DeliveryQuerySchema, location="query", unknown=ma.RAISE)
@subscriptions_blueprint.response(200, DeliveryPageSchema)
def get_deliveries(args: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    """The delivery log, newest first: attempts, status, last answer, next retry."""
    limit = args["limit"]
    rows = _desk().deliveries(subscription_id, before=args.get("cursor"), limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [_delivery_dict(*row) for row in page],
        "next_cursor": str(page[-1][0].id) if more else None,
    }


@subscriptions_blueprint.post("/<subscription_id>/replay")
@subscriptions_blueprint.arguments(ReplaySchema)
@subscriptions_blueprint.response(202, ReplayAnswerSchema)
def post_replay(body: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    """Send again every event since ``from`` that the subscription may hear of."""
    return {"queued": _desk().replay(subscription_id, since=body["from_"])}


@events_blueprint.get("")
@events_blueprint.arguments(FeedQuerySchema, location="query", unknown=ma.RAISE)
@events_blueprint.response(200, OutboxEventPageSchema)
def get_events(args: dict[str, Any]) -> dict[str, Any]:
    """The events the calling API client may hear of, oldest first, after the cursor
    ``after`` (from the first without it). Poll with ``next_cursor``."""
    return services.event_feed(current_principal()).page(
        after=args.get("after"), limit=args["limit"]
    )


@events_blueprint.post("/<event_id>/ack")
@events_blueprint.response(200, AckSchema)
def post_ack(event_id: str) -> dict[str, Any]:
    """Acknowledge an event (an erasure: the copy is deleted); the first time is kept."""
    event, when = services.event_feed(current_principal()).acknowledge(event_id)
    return {"event_id": event.id, "acknowledged_at": when}
