"""``/api/v1/fields``: the field catalogue. Every authenticated caller may read it; only
admins extend it."""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from vault.api.auth import current_principal
from vault.api.idempotency import idempotent
from vault.customers.catalogue import FieldSpec
from vault.customers.models import FIELD_TYPES, SENSITIVITIES
from vault.governance.catalogue_admin import CatalogueField
from vault.services import catalogue_admin

blueprint = Blueprint(
    "fields", __name__, url_prefix="/api/v1/fields", description="The field catalogue"
)


class FieldSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=64))
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(FIELD_TYPES))
    category = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=32))
    sensitivity = ma.fields.String(required=True, validate=ma.validate.OneOf(SENSITIVITIES))
    searchable = ma.fields.Boolean(load_default=False)
    unique = ma.fields.Boolean(load_default=False)
    required = ma.fields.Boolean(dump_only=True)
    max_length = ma.fields.Integer(load_default=200, validate=ma.validate.Range(min=1, max=10_000))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    # the data owner (a user id) of the field's category, who approves access requests
    owner = ma.fields.String(dump_only=True, allow_none=True)


class FieldListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(FieldSchema))
    next_cursor = ma.fields.String(allow_none=True)


@blueprint.route("")
class Fields(MethodView):
    @blueprint.response(200, FieldListSchema)
    def get(self) -> dict[str, Any]:
        """The catalogue, by name."""
        items = [_field_dict(f) for f in catalogue_admin(current_principal()).fields()]
        return {"items": items, "next_cursor": None}

    @idempotent
    @blueprint.arguments(FieldSchema)
    @blueprint.response(201, FieldSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a field (admins). 409 when the name exists, 422 for a bad definition."""
        return _field_dict(catalogue_admin(current_principal()).add_field(FieldSpec(**body)))


def _field_dict(field: CatalogueField) -> dict[str, Any]:
    return {**dataclasses.asdict(field.spec), "owner": field.owner}
