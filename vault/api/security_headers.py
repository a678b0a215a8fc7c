"""The security headers of every response (API.md §2), set in one after-request hook.

The Content-Security-Policy allows the vault's own scripts, stylesheets, images and fetches
and nothing else: no inline script or style, no ``eval``, no plug-ins, no framing, forms that
post only back to the vault. The admin UI, the portal and the API docs page are written for
it (stylesheets and scripts are files under ``/static``, ``/admin/static`` and
``/api/v1/docs/assets``).

Every response is ``Cache-Control: no-store`` except the static assets: an API answer, an
admin page, a portal page, an error or an export may carry personal data, and none of them
may stay in a browser's or a proxy's cache.
"""

from __future__ import annotations

from flask import Flask, Response

from vault.config import Settings
from vault.contexts import current_request
from vault.errors import ConfigurationError

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # Swagger UI's stylesheet draws its icons as data: URIs.
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",  # the docs page fetches the OpenAPI document and tries calls
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# Features no page of the vault uses, denied to every origin.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "camera", "display-capture", "geolocation", "gyroscope",
        "magnetometer", "microphone", "midi", "payment", "publickey-credentials-get",
        "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
)  # fmt: skip
FIXED_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
    # Links carry one-time tokens (/privacy/downloads/...) and request ids: no other site,
    # and no log of this one, learns them from a Referer.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
}
# Files that are the same for everyone; every other endpoint may carry personal data.
STATIC_ENDPOINTS = frozenset({"static", "admin.static", "api_docs_assets"})


def register_security_headers(app: Flask, settings: Settings) -> None:
    """Set the headers on every response ``app`` sends, errors included. Raises
    ``ConfigurationError`` for a negative ``VAULT_HSTS_SECONDS``."""
    hsts_seconds = settings.resolved_hsts_seconds
    if hsts_seconds < 0:
        raise ConfigurationError("VAULT_HSTS_SECONDS must be 0 (off) or more")
    headers = dict(FIXED_HEADERS)
    if hsts_seconds:
        # Sent over plain HTTP too: browsers ignore it there, and behind a TLS-terminating
        # proxy the vault may not know the client's connection was HTTPS.
        headers["Strict-Transport-Security"] = f"max-age={hsts_seconds}"

    every = [*headers.items()]
    every_no_store = [*every, ("Cache-Control", "no-store")]
    ours = frozenset(name.lower() for name, _ in every_no_store)

    def secure(response: Response) -> Response:
        no_store = current_request().endpoint not in STATIC_ENDPOINTS
        present = response.headers
        if ours.isdisjoint([name.lower() for name, _ in present._list]):
            # The usual answer holds none of these headers yet: what ``update`` would do
            # (set each, in this order) is then to append them, and appended at once they
            # cost a twentieth of setting each in turn (werkzeug's ``Headers.set`` checks
            # the value and scans the list for the name, once per header).
            present._list.extend(every_no_store if no_store else every)
            return response
        present.update(headers)
        if no_store:
            present["Cache-Control"] = "no-store"
        return response

    app.after_request(secure)
