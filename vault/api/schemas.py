"""The API's marshmallow schemas of customer records (bodies, views, pages, consents,
interactions), the list query every list route shares, and ``as_documented``, how a route
sends a body its response schema only documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Response, jsonify

from vault.api.times import AwareTime
from vault.customers.models import INTERACTION_KINDS


def as_documented(body: Any, status: int = 200) -> Response:
    """``body``, built by the route in the shape its ``@response`` schema documents, as its
    JSON answer with ``status``. flask-smorest dumps through the schema only what is not
    already a ``Response``: the schema documents the body and the body is sent as built, so
    no key is dropped and no value reformatted on the way (the fuzzer holds the body to the
    schema, ``bench.fuzzing``)."""
    response = jsonify(body)
    response.status_code = status
    return response


class ConsentInSchema(ma.Schema):
    purpose = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    granted = ma.fields.Boolean(required=True)
    source = ma.fields.String(load_default="api", validate=ma.validate.Length(min=1, max=64))
    notice_version = ma.fields.String(load_default="", validate=ma.validate.Length(max=32))


class CreateSchema(ma.Schema):
    # "values" in Python, "fields" on the wire: a schema's own ``fields`` must not be shadowed
    values = ma.fields.Dict(keys=ma.fields.String(), required=True, data_key="fields")
    region = ma.fields.String(required=True)
    consents = ma.fields.List(ma.fields.Nested(ConsentInSchema), load_default=list)


class PatchSchema(ma.Schema):
    values = ma.fields.Dict(keys=ma.fields.String(), load_default=dict, data_key="fields")
    relationship_ended_at = AwareTime(
        allow_none=True,
        metadata={"description": "When the customer relationship ended (null: it goes on)."},
    )

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data.get("values") and "relationship_ended_at" not in data:
            raise ma.ValidationError("give fields or relationship_ended_at to change", "fields")


class SearchSchema(ma.Schema):
    email = ma.fields.String()
    phone = ma.fields.String()

    @ma.validates_schema
    def _exactly_one(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if len(data) != 1:
            raise ma.ValidationError("give exactly one of email or phone", "_schema")


class ListQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.String(validate=ma.validate.Length(max=200))


class InteractionInSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(INTERACTION_KINDS))
    occurred_at = AwareTime(load_default=None)
    channel = ma.fields.String(load_default="", validate=ma.validate.Length(max=32))
    amount = ma.fields.Decimal(load_default=None, as_string=True)
    currency = ma.fields.String(load_default=None, validate=ma.validate.Length(equal=3))
    text = ma.fields.String(load_default=None, validate=ma.validate.Length(max=20_000))


class InteractionSchema(ma.Schema):
    """An interaction (``vault.customers.interactions.interaction_dict``)."""

    id = ma.fields.String()
    kind = ma.fields.String(metadata={"description": ", ".join(INTERACTION_KINDS)})
    channel = ma.fields.String(metadata={"description": "a code, or empty"})
    occurred_at = ma.fields.AwareDateTime()
    amount = ma.fields.String(allow_none=True, metadata={"description": "a decimal number"})
    currency = ma.fields.String(allow_none=True)
    text = ma.fields.String(allow_none=True)


class ConsentEventSchema(ma.Schema):
    granted = ma.fields.Boolean()
    occurred_at = ma.fields.AwareDateTime()
    source = ma.fields.String()
    notice_version = ma.fields.String()
    recorded_by = ma.fields.String(metadata={"description": "the principal who recorded it"})
    has_evidence = ma.fields.Boolean()


class ConsentStateSchema(ma.Schema):
    granted = ma.fields.Boolean(metadata={"description": "the current state"})
    updated_at = ma.fields.AwareDateTime()
    history = ma.fields.List(ma.fields.Nested(ConsentEventSchema),
                             metadata={"description": "every change, oldest first"})  # fmt: skip


class ConsentsSchema(ma.Schema):
    """A customer's consents (``vault.governance.consent.consents_dict``)."""

    customer_id = ma.fields.String()
    purposes = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Nested(ConsentStateSchema),
        metadata={"description": "purpose code -> its consent"},
    )


class FieldValueSchema(ma.Schema):
    value = ma.fields.Raw()
    transform = ma.fields.String(
        metadata={"description": "none, mask, redact, year, pseudonym, last4"}
    )


class CustomerViewSchema(ma.Schema):
    id = ma.fields.String()
    region = ma.fields.String()
    values = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(FieldValueSchema), data_key="fields"
    )
    withheld = ma.fields.List(ma.fields.String())
    relationship_ended_at = ma.fields.AwareDateTime(allow_none=True)


def view_body(view: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a governed view (``GovernedAccess.view``) as ``CustomerViewSchema`` dumps
    it, built directly: a page holds fifty views, and marshmallow took a quarter of its time.
    The schema still documents the answer; tests hold the two to the same body."""
    ended = view["relationship_ended_at"]
    return {
        "id": view["id"],
        "region": view["region"],
        "fields": view["values"],
        "withheld": view["withheld"],
        "relationship_ended_at": None if ended is None else ended.isoformat(),
    }


def page_schema(name: str, item: type[ma.Schema]) -> type[ma.Schema]:
    """The schema ``name`` of one page of a listing: its ``items`` and the cursor of the
    next page (null on the last)."""
    fields: dict[str, ma.fields.Field[Any]] = {
        "items": ma.fields.List(ma.fields.Nested(item)),
        "next_cursor": ma.fields.String(allow_none=True),
    }
    return ma.Schema.from_dict(fields, name=name)


CustomerPageSchema = page_schema("CustomerPageSchema", CustomerViewSchema)
InteractionPageSchema = page_schema("InteractionPageSchema", InteractionSchema)


# --- bulk (API.md §6) ---------------------------------------------------------------------

BULK_LIMIT = 500
CUSTOMER_ID = ma.validate.Regexp(r"^[A-Za-z0-9_-]{1,40}$", error="not a customer id")


class BatchSchema(ma.Schema):
    # each item is checked alone (CreateSchema): a bad item is that item's 422, not the call's
    items = ma.fields.List(
        ma.fields.Dict(keys=ma.fields.String()),
        required=True,
        validate=ma.validate.Length(min=1, max=BULK_LIMIT),
        metadata={"description": "Create bodies, as for POST /customers (1 to 500)"},
    )


class BatchItemSchema(ma.Schema):
    index = ma.fields.Integer(metadata={"description": "The item's place in the request"})
    status = ma.fields.Integer(metadata={"description": "201, or the status of its problem"})
    id = ma.fields.String(metadata={"description": "The new customer's id (201)"})
    customer = ma.fields.Nested(CustomerViewSchema, metadata={"description": "Its view (201)"})
    # a refused item is its problem (RFC 9457), as a single create would have answered it
    type = ma.fields.String()
    title = ma.fields.String()
    detail = ma.fields.String()
    code = ma.fields.String()
    request_id = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))
    existing_id = ma.fields.String(
        metadata={"description": "A duplicate's holder, when the caller may see it"}
    )


class BatchResultSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(BatchItemSchema))


class LookupSchema(ma.Schema):
    ids = ma.fields.List(
        ma.fields.String(validate=CUSTOMER_ID),
        required=True,
        validate=ma.validate.Length(min=1, max=BULK_LIMIT),
        metadata={"description": "Customer ids (1 to 500)"},
    )


class CustomerListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(CustomerViewSchema))
