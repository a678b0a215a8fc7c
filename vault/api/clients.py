"""``/api/v1/clients``: admins list the API clients of consumer systems (revoked ones too),
create one (its token is in the 201 answer once, never again) and revoke one; the token then
fails with 401 on its next request in every worker. Each change is audited."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.directory import not_cached, page_answer
from vault.api.idempotency import idempotent
from vault.api.schemas import ListQuerySchema, page_schema
from vault.auth.models import ApiClient
from vault.auth.service import principal_for_client

blueprint = Blueprint("clients", __name__, url_prefix="/api/v1/clients", description="API clients")
blueprint.after_request(not_cached)


class ClientSchema(ma.Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    role = ma.fields.String()
    purposes = ma.fields.List(
        ma.fields.String(), metadata={"description": "purposes this client may state"}
    )
    regions = ma.fields.List(
        ma.fields.String(), metadata={"description": "regions it may see; empty: every region"}
    )
    created_at = ma.fields.AwareDateTime()
    last_used_at = ma.fields.AwareDateTime(allow_none=True)
    expires_at = ma.fields.AwareDateTime(allow_none=True)
    revoked_at = ma.fields.AwareDateTime(allow_none=True)


class NewClientSchema(ClientSchema):
    token = ma.fields.String(metadata={"description": "shown in this answer only"})


ClientPageSchema = page_schema("ClientPageSchema", ClientSchema)


class ClientInSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=128))
    role = ma.fields.String(required=True, validate=ma.validate.Length(max=64))
    purposes = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=64)),
                              load_default=list)  # fmt: skip
    regions = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=16)),
                             load_default=list)  # fmt: skip
    expires_days = ma.fields.Integer(load_default=None, allow_none=True,
                                     validate=ma.validate.Range(min=1, max=3650))  # fmt: skip


def client_dict(client: ApiClient) -> dict[str, Any]:
    """An API client as the API and the command line show it (never its token's hash)."""
    principal = principal_for_client(client)
    return {
        "id": client.id,
        "name": client.name,
        "role": client.role_name,
        "purposes": sorted(principal.purposes),
        "regions": sorted(principal.regions or ()),
        "created_at": client.created_at,
        "last_used_at": client.last_used_at,
        "expires_at": client.expires_at,
        "revoked_at": client.revoked_at,
    }


@blueprint.get("")
@blueprint.arguments(ListQuerySchema, location="query", unknown=ma.RAISE)
@blueprint.response(200, ClientPageSchema)
def get_clients(args: dict[str, Any]) -> dict[str, Any]:
    """API clients in name order, revoked ones included."""
    clients = services.clients(current_principal())
    return page_answer(args, clients.page, lambda c: c.name, client_dict)


@blueprint.post("")
@idempotent
@blueprint.arguments(ClientInSchema)
@blueprint.response(201, NewClientSchema)
def post_client(body: dict[str, Any]) -> dict[str, Any]:
    """Create an API client; its token is in this answer and nowhere else (only a hash of it
    is kept). 422 for an unknown role or purpose, 409 for a name taken."""
    client, token = services.clients(current_principal()).register(**body)
    return {**client_dict(client), "token": token}


@blueprint.post("/<client_id>/revoke")
@blueprint.response(200, ClientSchema)
def post_revoke(client_id: str) -> dict[str, Any]:
    """Revoke the client's token: its next request is 401, in every worker."""
    return client_dict(services.clients(current_principal()).revoke(client_id))
