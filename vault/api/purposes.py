"""``/api/v1/purposes``: purposes of use with their legal basis and consent statistics
(aggregate counts only); admins add purposes."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.idempotency import idempotent

blueprint = Blueprint("purposes", __name__, url_prefix="/api/v1/purposes", description="Purposes")


class PurposeInSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=64))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    legal_basis = ma.fields.String(required=True)


@blueprint.get("")
def list_purposes() -> dict[str, Any]:
    """Every purpose with its legal basis and how many customers granted, withdrew or were
    never asked for consent to it."""
    return {"items": services.purposes(current_principal()).with_consent(), "next_cursor": None}


@blueprint.post("")
@idempotent
@blueprint.arguments(PurposeInSchema)
@blueprint.response(201)
def add_purpose(body: dict[str, Any]) -> dict[str, Any]:
    """Add a purpose (admins); 409 when the code exists, 422 for an unknown legal basis."""
    purpose = services.purposes(current_principal()).add(**body)
    return {
        "code": purpose.code,
        "description": purpose.description,
        "legal_basis": purpose.legal_basis,
    }
