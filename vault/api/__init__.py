"""The HTTP API at ``/api/v1`` (flask-smorest): OpenAPI at ``/api/v1/openapi.json``, browsable
docs at ``/api/v1/docs`` served from a vendored Swagger UI (``vault.api.docs``)."""

from __future__ import annotations

from flask import Flask

from vault.api import (
    access_requests,
    audit,
    clients,
    customers,
    docs,
    events,
    fields,
    health,
    legal_holds,
    meta,
    policies,
    privacy_requests,
    purposes,
    retention,
    users,
)
from vault.api.auth import authenticate_request
from vault.api.cross_origin import register_cross_origin
from vault.api.openapi import VaultApi


def register_api(app: Flask) -> VaultApi:
    app.config.update(
        API_TITLE="Vault",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=docs.SWAGGER_ASSETS,
        API_SPEC_OPTIONS={
            "info": {"description": "Governed access to encrypted customer records."},
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                }
            },
            "security": [{"bearer": []}],
        },
    )
    api = VaultApi(app)
    app.extensions["vault.api"] = api
    docs.register_docs(app)
    app.register_blueprint(health.blueprint)
    api.register_blueprint(meta.blueprint)
    api.register_blueprint(fields.blueprint)
    api.register_blueprint(audit.blueprint)
    api.register_blueprint(customers.blueprint)
    api.register_blueprint(events.subscriptions_blueprint)
    api.register_blueprint(events.events_blueprint)
    api.register_blueprint(policies.roles_blueprint)
    api.register_blueprint(policies.policies_blueprint)
    api.register_blueprint(access_requests.ownership_blueprint)
    api.register_blueprint(access_requests.requests_blueprint)
    api.register_blueprint(access_requests.grant_blueprint)
    api.register_blueprint(purposes.blueprint)
    api.register_blueprint(legal_holds.blueprint)
    api.register_blueprint(retention.blueprint)
    api.register_blueprint(privacy_requests.blueprint)
    api.register_blueprint(users.blueprint)
    api.register_blueprint(clients.blueprint)
    app.before_request(authenticate_request)
    register_cross_origin(app, app.config["VAULT_SETTINGS"])
    return api
