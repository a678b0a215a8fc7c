"""Unbound Flask extensions, bound to an app by ``create_app``."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager

limiter = Limiter(get_remote_address, headers_enabled=True)
login_manager = LoginManager()
