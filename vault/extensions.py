"""Unbound Flask extensions, bound to an app by ``create_app``, and the ways the vault keeps
their work off the API's hot path."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from itsdangerous import URLSafeTimedSerializer

limiter = Limiter(get_remote_address, headers_enabled=True)
login_manager = LoginManager()
API_PATHS = "/api/"


@limiter.request_filter
def _not_limited() -> bool:
    """The API's routes carry no limits of the limiter's (its refused bearer tokens are
    counted by ``vault.auth.throttle``)."""
    return request.path.startswith(API_PATHS)


def init_limiter(app: Flask) -> None:
    """Bind the limiter to ``app``; its check before each request (which resolves every
    limit before it asks the filter) is not run at all for the API's routes."""
    limiter.init_app(app)
    hooks = app.before_request_funcs[None]
    check = limiter._check_request_limit  # the hook init_app registered (bound method)
    (place,) = [i for i, hook in enumerate(hooks) if hook == check]

    def check_unless_api() -> None:
        if not request.path.startswith(API_PATHS):
            check()

    hooks[place] = check_unless_api


class SigningSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, whose signer is made once per set of keys rather than
    on every request."""

    _signers: dict[tuple[Any, ...], URLSafeTimedSerializer]

    def __init__(self) -> None:
        self._signers = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        signer = self._signers.get(keys)
        if signer is None:
            made = super().get_signing_serializer(app)
            assert made is not None  # (there is a secret key)
            signer = self._signers[keys] = made
        return signer
