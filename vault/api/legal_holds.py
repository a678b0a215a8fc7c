"""``/api/v1/legal-holds``: compliance officers place and lift holds that suspend erasure;
both are audited. Admins may read them."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.idempotency import idempotent
from vault.api.schemas import as_documented, page_schema
from vault.governance.legal_holds import LegalHolds
from vault.governance.models import LegalHold

blueprint = Blueprint(
    "legal_holds", __name__, url_prefix="/api/v1/legal-holds", description="Legal holds"
)


class HoldInSchema(ma.Schema):
    customer_id = ma.fields.String(required=True, validate=ma.validate.Length(max=40))
    reason = ma.fields.String(required=True)


class LiftSchema(ma.Schema):
    reason = ma.fields.String(required=True)


class HoldQuerySchema(ma.Schema):
    active = ma.fields.Boolean(load_default=True)


class HoldSchema(ma.Schema):
    """A legal hold (``_hold_dict``)."""

    id = ma.fields.String()
    customer_id = ma.fields.String()
    reason = ma.fields.String(allow_none=True, metadata={"description": "null once erased"})
    placed_by = ma.fields.String()
    placed_at = ma.fields.AwareDateTime()
    active = ma.fields.Boolean()
    lifted_by = ma.fields.String(allow_none=True)
    lifted_at = ma.fields.AwareDateTime(allow_none=True)
    lift_reason = ma.fields.String(allow_none=True)


HoldPageSchema = page_schema("HoldPageSchema", HoldSchema)


def _holds() -> LegalHolds:
    return services.legal_holds(current_principal())


def _hold_dict(hold: LegalHold, desk: LegalHolds) -> dict[str, Any]:
    """A hold with its reasons in clear (``null`` once they went with an erasure)."""
    reason, lift_reason = desk.reasons(hold)
    return {
        "id": hold.id,
        "customer_id": hold.customer_id,
        "reason": reason,
        "placed_by": hold.placed_by,
        "placed_at": hold.placed_at.isoformat(),
        "active": hold.lifted_at is None,
        "lifted_by": hold.lifted_by,
        "lifted_at": hold.lifted_at.isoformat() if hold.lifted_at else None,
        "lift_reason": lift_reason,
    }


@blueprint.get("")
@blueprint.arguments(HoldQuerySchema, location="query", unknown=ma.RAISE)
@blueprint.response(200, HoldPageSchema)
def list_holds(args: dict[str, Any]) -> Response:
    """Holds, newest first (``active=false`` includes lifted ones)."""
    desk = _holds()
    items = [_hold_dict(h, desk) for h in desk.all(active_only=args["active"])]
    return as_documented({"items": items, "next_cursor": None})


@blueprint.post("")
@idempotent
@blueprint.arguments(HoldInSchema)
@blueprint.response(201, HoldSchema)
def add_hold(body: dict[str, Any]) -> Response:
    """Place a hold on a customer: no erasure of it proceeds until the hold is lifted."""
    desk = _holds()
    hold = desk.place(body["customer_id"], reason=body["reason"])
    return as_documented(_hold_dict(hold, desk), 201)


@blueprint.post("/<hold_id>/lift")
@blueprint.arguments(LiftSchema)
@blueprint.response(200, HoldSchema)
def lift(body: dict[str, Any], hold_id: str) -> Response:
    """Lift a hold, with the reason."""
    desk = _holds()
    return as_documented(_hold_dict(desk.lift(hold_id, reason=body["reason"]), desk))
