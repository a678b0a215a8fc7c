"""``/api/v1/me``: the caller as the vault sees it, so an integrator can check a token."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from vault.api.auth import current_principal

blueprint = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The calling principal")


class PrincipalSchema(ma.Schema):
    kind = ma.fields.String(metadata={"description": "user or client"})
    id = ma.fields.String()
    name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    purposes = ma.fields.List(
        ma.fields.String(), metadata={"description": "purposes this caller may state"}
    )


@blueprint.route("")
class Me(MethodView):
    @blueprint.response(200, PrincipalSchema)
    def get(self) -> dict[str, Any]:
        """The authenticated principal: kind, id, roles and allowed purposes."""
        principal = current_principal()
        return {
            "kind": principal.kind,
            "id": principal.id,
            "name": principal.name,
            "roles": sorted(principal.roles),
            "purposes": sorted(principal.purposes),
        }
