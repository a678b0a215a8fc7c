"""Unbound Flask extensions, bound to an app by ``create_app``."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager

limiter = Limiter(get_remote_address, headers_enabled=True)
login_manager = LoginManager()


@limiter.request_filter
def _not_limited() -> bool:
    """The API's routes carry no limits of the limiter's (its refused bearer tokens are
    counted by ``vault.auth.throttle``): they skip the limiter's work on every request."""
    return request.path.startswith("/api/")
