"""``/api/v1/purposes``: purposes of use with their legal basis and consent statistics
(aggregate counts only); admins add purposes."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.idempotency import idempotent
from vault.api.schemas import as_documented, page_schema

blueprint = Blueprint("purposes", __name__, url_prefix="/api/v1/purposes", description="Purposes")


class PurposeInSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=64))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    legal_basis = ma.fields.String(required=True)


class PurposeSchema(ma.Schema):
    code = ma.fields.String()
    description = ma.fields.String()
    legal_basis = ma.fields.String()


class ConsentCountsSchema(ma.Schema):
    """How many active customers granted, withdrew or were never asked (counts only)."""

    granted = ma.fields.Integer()
    withdrawn = ma.fields.Integer()
    never_asked = ma.fields.Integer()


class PurposeWithConsentSchema(PurposeSchema):
    """A purpose with its consent counts (``vault.governance.purposes.purposes_with_consent``)."""

    consent = ma.fields.Nested(ConsentCountsSchema)


PurposePageSchema = page_schema("PurposePageSchema", PurposeWithConsentSchema)


@blueprint.get("")
@blueprint.response(200, PurposePageSchema)
def list_purposes() -> Response:
    """Every purpose with its legal basis and how many customers granted, withdrew or were
    never asked for consent to it."""
    items = services.purposes(current_principal()).with_consent()
    return as_documented({"items": items, "next_cursor": None})


@blueprint.post("")
@idempotent
@blueprint.arguments(PurposeInSchema)
@blueprint.response(201, PurposeSchema)
def add_purpose(body: dict[str, Any]) -> Response:
    """Add a purpose (admins); 409 when the code exists, 422 for an unknown legal basis."""
    purpose = services.purposes(current_principal()).add(**body)
    return as_documented(
        {"code": purpose.code, "description": purpose.description,
         "legal_basis": purpose.legal_basis},
        201,
    )  # fmt: skip
