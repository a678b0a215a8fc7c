"""``/api/v1/fields``: the field catalogue. Every authenticated caller may read it; only
admins extend it."""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from vault.api.auth import current_principal
from vault.audit_trail import audit
from vault.customers.catalogue import FieldSpec, add_field, load_catalogue
from vault.customers.models import FIELD_TYPES, SENSITIVITIES
from vault.db import db
from vault.governance.access_requests import owners

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
        current_principal()
        catalogue = load_catalogue(db.session)
        owner_of = owners(db.session)
        items = [
            {**dataclasses.asdict(catalogue[name]), "owner": owner_of.get(catalogue[name].category)}
            for name in sorted(catalogue.fields)
        ]
        return {"items": items, "next_cursor": None}

    @blueprint.arguments(FieldSchema)
    @blueprint.response(201, FieldSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a field (admins). 409 when the name exists, 422 for a bad definition."""
        current_principal().require_role("admin", because="only admins change the field catalogue")
        row = add_field(db.session, FieldSpec(**body))
        audit("catalogue.change", field_names=[row.name])
        owner = owners(db.session).get(row.category)
        return {
            **{c: getattr(row, c) for c in FieldSchema().fields if c != "owner"},
            "owner": owner,
        }
