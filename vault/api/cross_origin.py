"""Cross-origin calls to the API from browsers (CORS): off unless ``VAULT_CORS_ORIGINS`` names
the origins whose pages may call it; then flask-cors answers them, for ``/api/`` only.

The admin UI and the privacy portal are never shared with another origin. Credentials
(cookies) are not shared either: a page of another origin calls with a bearer token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask_cors import CORS

from vault.config import Settings
from vault.errors import ConfigurationError

# What a browser may send and read across origins: the headers the API reads and answers with.
ALLOWED_HEADERS = ["Authorization", "Content-Type", "If-Match", "X-Purpose", "X-Request-ID"]
EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "Location", "ETag"]
PREFLIGHT_MAX_AGE = 600  # seconds a browser may keep a preflight's answer


def checked_origin(origin: str) -> str:
    """``origin`` if it is ``http(s)://host[:port]`` and nothing more; raises
    ``ConfigurationError`` otherwise (a wildcard, a path, a user name, a query)."""
    parts = urlsplit(origin)
    plain = parts.scheme in {"http", "https"} and parts.hostname and "@" not in parts.netloc
    if not plain or "*" in origin or parts.path or parts.query or parts.fragment:
        raise ConfigurationError(
            "VAULT_CORS_ORIGINS lists origins as scheme://host[:port], comma-separated"
        )
    return origin


def register_cross_origin(app: Flask, settings: Settings) -> None:
    """Answer cross-origin calls to the API from the configured origins (nothing when none
    is). Raises ``ConfigurationError`` for an origin that is not one."""
    origins = [checked_origin(o) for o in settings.cors_origin_list]
    if not origins:
        return
    CORS(
        app,
        resources={r"/api/.*": {"origins": origins}},
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        supports_credentials=False,
        max_age=PREFLIGHT_MAX_AGE,
    )
