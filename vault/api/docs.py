"""The browsable API docs at ``/api/v1/docs``: Swagger UI from the vendored
``swagger_ui_bundle`` (nothing is fetched from the internet at run time), started by a script
file of the vault's own.

flask-smorest's own page starts Swagger UI with an inline script, which the
Content-Security-Policy forbids (``vault.api.security_headers``). Its route and endpoint stay
(``vault.api.auth`` keeps the docs public by that endpoint); the page they serve is ours.
"""

from __future__ import annotations

import swagger_ui_bundle
from flask import Flask, Response, current_app, render_template, send_from_directory, url_for

SWAGGER_ASSETS = "/api/v1/docs/assets/"
DOCS_ENDPOINT = "api-docs.openapi_swagger_ui"
SPEC_ENDPOINT = "api-docs.openapi_json"
ASSETS_ENDPOINT = "api_docs_assets"


def _docs_page() -> str:
    # The app's own template folder (vault/templates), beside its static files (vault/static).
    return render_template(
        "api/docs.html",
        title=current_app.config["API_TITLE"],
        spec_url=url_for(SPEC_ENDPOINT),
        assets=SWAGGER_ASSETS,
    )


def _swagger_asset(filename: str) -> Response:
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)


def register_docs(app: Flask) -> None:
    """Serve the docs page and Swagger UI's files; call it after flask-smorest's ``Api``
    has registered its routes. Raises ``KeyError`` when there is no docs route
    (``OPENAPI_SWAGGER_UI_PATH`` unset) to serve the page at."""
    if DOCS_ENDPOINT not in app.view_functions:
        raise KeyError(DOCS_ENDPOINT)
    app.view_functions[DOCS_ENDPOINT] = _docs_page
    app.add_url_rule(SWAGGER_ASSETS + "<path:filename>", ASSETS_ENDPOINT, _swagger_asset)
