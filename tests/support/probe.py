"""A blueprint that exists only in tests: it exercises the error mapping, the transaction per
request and the purpose guard through real routes."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import Flask, g
from flask_smorest import Blueprint

from vault.api.auth import current_principal, purpose_guard
from vault.db import db
from vault.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vault.policies.models import Purpose

blueprint = Blueprint("probe", __name__, url_prefix="/api/v1/probe")
customer_like = Blueprint("probe_customers", __name__, url_prefix="/api/v1/probe-customers")
customer_like.before_request(purpose_guard)


class ItemSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=10))
    count = ma.fields.Integer(required=True)


def _write_marker(code: str) -> None:
    db.session.add(Purpose(code=code, legal_basis="contract", description="probe"))
    db.session.flush()


@blueprint.post("/items")
@blueprint.arguments(ItemSchema)
@blueprint.response(201)
def create_item(body: dict[str, Any]) -> dict[str, Any]:
    _write_marker("probe_ok")
    return {"name": body["name"]}


@blueprint.post("/fail/<kind>")
def fail(kind: str) -> dict[str, Any]:
    _write_marker(f"probe_{kind}")
    errors: dict[str, Exception] = {
        "conflict": Conflict("already there"),
        "forbidden": Forbidden("not for you"),
        "notfound": NotFound("nothing here"),
        "invalid": ValidationFailed(errors={"email": ["not a valid email address"]}),
        "crash": RuntimeError("secret@example.com should never be shown"),
    }
    raise errors[kind]


@customer_like.get("")
def read() -> dict[str, Any]:
    return {"purpose": g.purpose, "principal": current_principal().id}


def install(app: Flask) -> None:
    app.extensions["vault.api"].register_blueprint(blueprint)
    app.extensions["vault.api"].register_blueprint(customer_like)


def marker_exists(app: Flask, code: str) -> bool:
    with app.app_context():
        return db.session.scalar(sa.select(Purpose.code).where(Purpose.code == code)) is not None
