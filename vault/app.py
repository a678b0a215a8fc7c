"""The application factory. Nothing happens at import time."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, redirect, request, session
from flask.typing import ResponseReturnValue
from werkzeug.middleware.proxy_fix import ProxyFix

from admin_ui import blueprint as admin_blueprint
from vault import runtime
from vault.api import register_api
from vault.api.errors import (
    database_unavailable,
    handle_vault_error,
    problem,
    register_error_handlers,
    wrapped_vault_error,
)
from vault.api.input_boundary import register_input_boundary
from vault.api.request_context import register_request_hooks
from vault.api.security_headers import register_security_headers
from vault.audit.service import bind_audit_key
from vault.audit_trail import register_refusal_audit
from vault.auth.models import User
from vault.auth.sessions import SESSION_TOKEN_KEY, SessionPolicy, resume_session
from vault.auth.throttle import FailureLimit
from vault.clock import SystemClock
from vault.config import Settings, load_settings
from vault.db import db
from vault.errors import ConfigurationError, VaultError
from vault.extensions import SigningSessionInterface, init_limiter, init_login, login_manager
from vault.logs import configure_logging
from vault.outages import OutageLog, database_outage, watch_answers
from vault.portal.language import init_languages
from vault.portal.views import blueprint as portal_blueprint


class VaultFlask(Flask):
    """Flask, with a failure met after the view (at the request's commit, in an
    ``after_request`` hook, which error handlers do not see) answered as one met in the view:
    a database outage 503, a vault error (an audit event the database refused, sent with the
    COMMIT) its own problem, rather than logged with its stack trace and answered 500."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask asks, for every hook and view of every request, whether it is a coroutine
        function (``inspect``): the answer is kept per function."""
        known: dict[Callable[..., Any], Callable[..., Any]]
        known = self.__dict__.setdefault("_vault_sync", {})
        found = known.get(func)
        if found is None:
            found = known[func] = super().ensure_sync(func)
        return found

    def handle_exception(self, e: Exception) -> Response:
        outage = database_outage(e)
        if outage is not None:
            return self.finalize_request(database_unavailable(outage), from_error_handler=True)
        error = e if isinstance(e, VaultError) else wrapped_vault_error(e)
        if error is not None:
            return self.finalize_request(handle_vault_error(error), from_error_handler=True)
        return super().handle_exception(e)


def create_app(
    config: Settings | Mapping[str, Any] | None = None, *, initialising: bool = False
) -> Flask:
    """Build the vault's Flask app from defaults, the optional config file, ``VAULT_*``
    variables and ``config`` (a ``Settings`` or a mapping of setting names).

    Raises ``ConfigurationError`` when the settings are unusable (e.g. production without
    its secrets, unless ``initialising``: the app of `vault init`, which creates them).
    """
    if isinstance(config, Settings):
        settings = config
    else:
        settings = load_settings(config, initialising=initialising)
    configure_logging(settings.resolved_log_format, settings.log_level)
    app = VaultFlask("vault", instance_path=str(settings.instance_path))
    configure_app(app, settings)
    register_extensions(app, settings)
    register_refusal_audit(app)
    register_request_hooks(app)
    register_security_headers(app, settings)
    register_blueprints(app)
    register_input_boundary(app)
    register_error_handlers(app)
    return app


def configure_app(app: Flask, settings: Settings) -> None:
    secret_key = settings.secret_key
    if not secret_key:
        # Development before `vault init`: sessions last as long as this process.
        secret_key = secrets.token_urlsafe(48)
    secure_cookies = (
        settings.production
        if settings.session_cookie_secure is None
        else settings.session_cookie_secure
    )
    app.config.update(
        VAULT_SETTINGS=settings,
        SECRET_KEY=secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_NAME="vault_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure_cookies,
        WTF_CSRF_TIME_LIMIT=3600,
        # A request naming any other host is refused with 400 (None: every host is served).
        TRUSTED_HOSTS=settings.trusted_host_list,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_KEY_PREFIX=settings.ratelimit_key_prefix,
        RATELIMIT_HEADERS_ENABLED=True,
        JSON_SORT_KEYS=False,
    )
    app.session_interface = SigningSessionInterface()
    app.extensions["vault.settings"] = settings
    app.extensions["vault.clock"] = SystemClock()
    if settings.proxy_count < 0:
        raise ConfigurationError("VAULT_PROXY_COUNT must be 0 or more")
    if settings.session_max_hours < 1 or settings.session_idle_minutes < 1:
        raise ConfigurationError(
            "VAULT_SESSION_MAX_HOURS and VAULT_SESSION_IDLE_MINUTES must be 1 or more"
        )
    if settings.proxy_count:
        hops = settings.proxy_count
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )


def register_extensions(app: Flask, settings: Settings) -> None:
    db.init_app(app, settings)
    outages = OutageLog(report_seconds=settings.database_outage_log_seconds)
    app.extensions["vault.outages"] = outages
    watch_answers(db.state(app).engine, outages)
    # Every event written through one of the app's sessions carries a MAC under the audit
    # key, which is derived only when the first event is written (`vault init` creates the
    # master key after the app exists).
    db.state(app).session_setup = lambda session: bind_audit_key(
        session, lambda: runtime.audit_log(app).key
    )
    # The app's own counts (not the limiter's, which is one per process): in the storage
    # the settings name, so that with redis:// every worker counts in one place. Made
    # first, so that an unusable storage URI is refused without quoting it (it may hold a
    # password).
    app.extensions["vault.token_failures"] = FailureLimit.for_tokens(settings)
    init_limiter(app)
    init_login(app)
    init_languages(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "strong"
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)


def _load_user(user_id: str) -> User | None:
    """flask-login's user loader: the cookie names a user, but only an open server-side
    session (its token in the same signed cookie) makes the request that user's."""
    return resume_session(
        db.session,
        session.get(SESSION_TOKEN_KEY),
        user_id=user_id,
        now=runtime.now(),
        policy=SessionPolicy.from_settings(runtime.settings()),
    )


def _unauthorized() -> ResponseReturnValue:
    if request.path.startswith("/admin"):
        return redirect(f"/admin/login?next={request.path}")
    return problem(401, "unauthorized", "authentication required")


def register_blueprints(app: Flask) -> None:
    register_api(app)
    app.register_blueprint(portal_blueprint)
    app.register_blueprint(admin_blueprint)
