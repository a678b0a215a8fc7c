"""Liveness and readiness for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify

from vault.api.errors import database_unavailable, outage_log
from vault.db import db
from vault.readiness import ReadinessCheck

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
    error = _readiness(app).check()
    if error is not None:
        return database_unavailable(error)
    outage_log().answered()
    return jsonify(status="ready")


def _readiness(app: Flask) -> ReadinessCheck:
    check: ReadinessCheck | None = app.extensions.get("vault.readiness")
    if check is None:
        timeout = app.config["VAULT_SETTINGS"].readiness_timeout_ms / 1000
        # The readers' sessions: on SQLite they never wait for a writer's lock.
        check = ReadinessCheck(lambda: db.reading_session(app), timeout)
        app.extensions["vault.readiness"] = check
    return check
