"""``/api/v1/legal-holds``: compliance officers place and lift holds that suspend erasure;
both are audited. Admins may read them."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from vault import runtime
from vault.api.auth import current_principal
from vault.audit_trail import audit
from vault.db import db
from vault.governance.legal_holds import holds, lift_hold, place_hold
from vault.governance.models import LegalHold
from vault.governance.notes import reasons_of

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


def _officer() -> str:
    return current_principal().require_role(
        "compliance_officer", because="legal holds are placed and lifted by compliance officers"
    )


def _hold_dict(hold: LegalHold) -> dict[str, Any]:
    """A hold with its reasons in clear (``null`` once they went with an erasure)."""
    reason, lift_reason = reasons_of(hold, runtime.note_cipher())
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
@blueprint.arguments(HoldQuerySchema, location="query")
def list_holds(args: dict[str, Any]) -> dict[str, Any]:
    """Holds, newest first (``active=false`` includes lifted ones)."""
    current_principal().require_role(
        "compliance_officer", "admin", because="legal holds are for compliance officers and admins"
    )
    items = [_hold_dict(h) for h in holds(db.session, active_only=args["active"])]
    audit("legal_hold.read")
    return {"items": items, "next_cursor": None}


@blueprint.post("")
@blueprint.arguments(HoldInSchema)
@blueprint.response(201)
def add_hold(body: dict[str, Any]) -> dict[str, Any]:
    """Place a hold on a customer: no erasure of it proceeds until the hold is lifted."""
    officer = _officer()
    hold = place_hold(
        db.session, body["customer_id"], reason=body["reason"], by=officer, now=runtime.now(),
        notes=runtime.note_cipher(),
    )  # fmt: skip
    # The reason stays in the hold (compliance officers read it there); the event names the hold.
    audit("legal_hold.place", customer_ids=[hold.customer_id], reason=hold.id)
    return _hold_dict(hold)


@blueprint.post("/<hold_id>/lift")
@blueprint.arguments(LiftSchema)
def lift(body: dict[str, Any], hold_id: str) -> dict[str, Any]:
    """Lift a hold, with the reason."""
    officer = _officer()
    hold = lift_hold(db.session, hold_id, reason=body["reason"], by=officer, now=runtime.now(),
                     notes=runtime.note_cipher())  # fmt: skip
    audit("legal_hold.lift", customer_ids=[hold.customer_id], reason=hold.id)
    return _hold_dict(hold)
