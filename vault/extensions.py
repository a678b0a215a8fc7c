"""Unbound Flask extensions, bound to an app by ``create_app``, and the ways the vault keeps
their work off the API's hot path."""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from itsdangerous import URLSafeTimedSerializer

from vault.contexts import current_request, current_request_context

limiter = Limiter(get_remote_address, headers_enabled=True)
login_manager = LoginManager()
API_PATHS = "/api/"


@limiter.request_filter
def _not_limited() -> bool:
    """The API's routes carry no limits of the limiter's (its refused bearer tokens are
    counted by ``vault.auth.throttle``)."""
    return current_request().path.startswith(API_PATHS)


def init_limiter(app: Flask) -> None:
    """Bind the limiter to ``app``; its check before each request (which resolves every
    limit before it asks the filter) is not run at all for the API's routes, and its work
    after a request only when the request met the limiter at all."""
    limiter.init_app(app)
    hooks = app.before_request_funcs[None]
    check = limiter._check_request_limit  # the hook init_app registered (bound method)
    (place,) = [i for i, hook in enumerate(hooks) if hook == check]

    def check_unless_api() -> None:
        if not current_request().path.startswith(API_PATHS):
            check()

    hooks[place] = check_unless_api
    # The limiter keeps what it checked in a context on the request's own; its after-request
    # hook reads it for the headers it adds and its teardown empties it, and both make it
    # first when the request has none. A request without one met no limit: there is no
    # header to add and nothing to empty.
    after = app.after_request_funcs[None]
    inject_headers = Limiter._Limiter__inject_headers  # type: ignore[attr-defined]
    (inject_at,) = [
        i for i, hook in enumerate(after) if getattr(hook, "func", None) is inject_headers
    ]
    inject = after[inject_at]  # (a partial of the method, bound to the limiter)
    teardown = app.teardown_request_funcs[None]
    release = limiter._Limiter__release_context  # type: ignore[attr-defined]
    (release_at,) = [i for i, hook in enumerate(teardown) if hook == release]

    def inject_headers_if_met(response: Response) -> Response:
        if not hasattr(current_request_context(), _LIMITER_CONTEXT):
            return response
        return cast(Response, inject(response))

    def release_context_if_met(error: BaseException | None) -> None:
        if hasattr(current_request_context(), _LIMITER_CONTEXT):
            release(error)

    after[inject_at] = inject_headers_if_met
    teardown[release_at] = release_context_if_met


_LIMITER_CONTEXT = "_limiter_request_context"  # where the limiter keeps its request's context


def init_login(app: Flask) -> None:
    """Bind flask-login to ``app``; its after-request hook (the remember-me cookie) does its
    work only where there can be any: when the session holds something, or when the app
    refreshes the cookie on every request."""
    login_manager.init_app(app)
    after = app.after_request_funcs[None]
    update = login_manager._update_remember_cookie  # the hook init_app registered
    (place,) = [i for i, hook in enumerate(after) if hook == update]

    def update_remember_cookie(response: Response) -> Response:
        # Read as flask-login reads it (the answer then varies with the Cookie header): an
        # empty session holds no "_remember" to act on, and only the refresh would add one.
        session = current_request_context().session
        if session or app.config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST"):
            return cast(Response, update(response))
        return response

    after[place] = update_remember_cookie


class SigningSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, whose signer is made once per set of keys rather than
    on every request, and which does no more than it must for a request without cookies (an
    API client's) and an answer without a session."""

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

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """As Flask opens it; without a Cookie header, the new empty session Flask would
        open, without parsing the cookies there are none of."""
        if "HTTP_COOKIE" in request.environ or self.get_signing_serializer(app) is None:
            return super().open_session(app, request)
        return self.session_class()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """As Flask saves it; an empty session that was not changed sets no cookie, and only
        ``Vary: Cookie`` when it was read (Flask reads every cookie setting first)."""
        if session or session.modified:
            super().save_session(app, session, response)
        elif session.accessed:
            _vary_on_cookie(response)


def _vary_on_cookie(response: Response) -> None:
    """``response.vary.add("Cookie")``; an answer without a Vary header (the usual one) gets
    the one it would set, without werkzeug parsing the header into a set and writing it
    back."""
    if "Vary" in response.headers:
        response.vary.add("Cookie")
    else:
        response.headers.add("Vary", "Cookie")
