"""Liveness and readiness for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify

from vault import services
from vault.api.errors import database_unavailable, outage_log

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> Response:
    """The process can serve: its database answers within VAULT_READINESS_TIMEOUT_MS; if not,
    503 with Retry-After."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    error = services.readiness(app).check()
    if error is not None:
        return database_unavailable(error)
    outage_log().answered()
    return jsonify(status="ready")
