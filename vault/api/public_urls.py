"""The absolute links the vault hands out, in mails and in answers.

With ``VAULT_BASE_URL`` set they start with it, whatever ``Host`` (or, behind trusted
proxies, ``X-Forwarded-Host``) a request named, so a forged header cannot put another site's
address into a customer's mail. Without it (development, tests) they start with the
request's own address. Production refuses to start without a base URL.
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for

from vault import runtime


def base_url() -> str:
    """The address of the vault's root, without a trailing slash: ``VAULT_BASE_URL``, or the
    request's scheme, host and script root when none is set. Needs a request context."""
    configured: str = runtime.settings().base_url
    return configured or request.url_root.rstrip("/")


def external_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` as an absolute link under ``base_url()``. Raises what
    ``url_for`` raises (``BuildError`` for an unknown endpoint or missing values)."""
    path = url_for(endpoint, **values).removeprefix(request.script_root)
    return base_url() + path
