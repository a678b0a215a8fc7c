"""Liveness and readiness for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from vault.api.errors import problem
from vault.db import db
from vault.logs import get_logger

blueprint = Blueprint("health", __name__)
log = get_logger("vault.health")


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> Response:
    """The process can serve: its database answers."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("readiness.failed", error_type=type(exc).__name__)
        return problem(503, "unavailable", "the database is not reachable")
    return jsonify(status="ready")
