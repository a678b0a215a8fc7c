"""Who is calling: a bearer token (API clients) or the admin UI's session cookie. Every
``/api/v1`` route requires one, except the OpenAPI document and its docs page."""

from __future__ import annotations

from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import TooManyRequests
from wtforms import ValidationError

from vault import services
from vault.audit_trail import refuse
from vault.auth.principal import Principal
from vault.auth.service import TokenRefused, principal_for_user
from vault.auth.throttle import FailureLimit
from vault.contexts import context_globals, current_application, current_request
from vault.errors import Forbidden, Unauthorized

API_PREFIX = "/api/v1"
_PUBLIC_ENDPOINTS = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui", "api_docs_assets"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# The blueprint of /api/v1/access-requests/<id>/customers (vault.api.access_requests), the one
# route where an active grant's purpose may be stated.
GRANT_BLUEPRINT = "access_request_customers"


def current_principal() -> Principal:
    """The authenticated principal of this request; raises ``Unauthorized`` without one."""
    principal: Principal | None = context_globals().get("principal")
    if principal is None:
        raise Unauthorized("authentication required")
    return principal


def current_purpose() -> str:
    """The purpose this request stated (``X-Purpose``), checked by ``purpose_guard``."""
    purpose: str | None = context_globals().get("purpose")
    if purpose is None:
        raise Unauthorized("authentication required")
    return purpose


def authenticate_request() -> None:
    """before_request: authenticate every API route that exists and is not public."""
    request = current_request()
    if not request.path.startswith(API_PREFIX + "/") or request.url_rule is None:
        return
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use the Bearer authentication scheme")
        failures: FailureLimit = current_application().extensions["vault.token_failures"]
        address = request.remote_addr or ""
        # An address that has had too many tokens refused is held back before its next token
        # is looked at, whatever that token is: guessing gains nothing from trying faster.
        retry_after = failures.retry_after(address)
        if retry_after is not None:
            raise TooManyRequests(retry_after=retry_after)
        try:
            # The token's last use commits with the request's own work (one transaction).
            context_globals().principal = services.principal_for_token(token.strip())
        except TokenRefused as exc:
            refuse(exc.reason)
            failures.record_failure(address)
            raise
        return
    if current_user.is_authenticated:
        granted: frozenset[str] = frozenset()
        if request.blueprint == GRANT_BLUEPRINT:
            # An access grant widens its requester's view on its own route only: elsewhere
            # its purpose would open the role's plan for a purpose the role was never given.
            granted = services.granted_purposes(current_user.id)
        # The principal is known before the CSRF check, so that its refusal names the user.
        context_globals().principal = principal_for_user(current_user, granted)
        if request.method not in _SAFE_METHODS:
            try:
                validate_csrf(request.headers.get("X-CSRFToken"))
            except (ValidationError, CSRFError) as exc:
                raise Forbidden(
                    "a valid X-CSRFToken header is required", code="csrf_failed"
                ) from exc
        return
    raise Unauthorized("authentication required: send Authorization: Bearer <token>")


def purpose_guard() -> None:
    """before_request of every customer-data blueprint: X-Purpose present and allowed."""
    request = current_request()
    if request.url_rule is None:
        return
    purpose = current_principal().require_purpose(request.headers.get("X-Purpose"))
    context_globals().purpose = purpose
