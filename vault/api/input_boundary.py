"""The one input boundary of every route (API, privacy portal, admin forms): what a client
sends is checked here, after authentication and before any view, service or database sees it.

A JSON body is parsed once, within the limits of ``vault.api.json_limits``.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import BadRequest as NotJSON

from vault.api.json_limits import LimitedJSONProvider
from vault.errors import BadRequest


def check_request() -> None:
    """before_request: parse a JSON body within the limits. Raises ``BadRequest`` (not
    JSON) or ``ValidationFailed`` (422) before the route runs."""
    if request.url_rule is None:  # 404 and 405 are answered as such
        return
    if request.is_json and request.get_data(cache=True):
        try:
            request.get_json()  # cached: the route's own reading finds it parsed
        except NotJSON:
            raise BadRequest("the request body is not valid JSON", code="malformed_json") from None


def register_input_boundary(app: Flask) -> None:
    """Read JSON within limits everywhere in ``app`` and check every request (registered
    after authentication, so that a refusal names who sent it)."""
    app.json = LimitedJSONProvider(app)
    app.before_request(check_request)
