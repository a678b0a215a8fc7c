"""One place that turns every error into ``application/problem+json`` (RFC 9457), or into an
HTML page for the admin UI. No body ever carries a submitted value. Rendering only: what a
refusal records is decided where it is refused (vault.audit_trail)."""

from __future__ import annotations

import traceback
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from vault.errors import VaultError, shown
from vault.logs import get_logger
from vault.outages import OutageLog, database_outage

log = get_logger("vault.errors")

PROBLEM_TYPE_BASE = "https://vault.invalid/problems/"

# Every status the vault answers with: its default code and its one title (RFC 9110's reason
# phrase), used for werkzeug's errors and the vault's alike, so that a status never comes
# with two titles.
STATUSES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not Found"),
    405: ("method_not_allowed", "Method Not Allowed"),
    406: ("not_acceptable", "Not Acceptable"),
    409: ("conflict", "Conflict"),
    410: ("gone", "Gone"),
    411: ("length_required", "Length Required"),
    412: ("precondition_failed", "Precondition Failed"),
    413: ("payload_too_large", "Content Too Large"),
    414: ("uri_too_long", "URI Too Long"),
    415: ("unsupported_media_type", "Unsupported Media Type"),
    422: ("validation_failed", "Unprocessable Content"),
    428: ("precondition_required", "Precondition Required"),
    429: ("rate_limited", "Too Many Requests"),
    431: ("headers_too_large", "Request Header Fields Too Large"),
    500: ("internal_error", "Internal Server Error"),
    501: ("not_implemented", "Not Implemented"),
    502: ("bad_gateway", "Bad Gateway"),
    503: ("unavailable", "Service Unavailable"),
    504: ("gateway_timeout", "Gateway Timeout"),
}


def status_title(status: int) -> str:
    """The one title of ``status`` (werkzeug's name for a status the table lacks)."""
    known = STATUSES.get(status)
    return known[1] if known else HTTP_STATUS_CODES.get(status, "Error")


def problem_body(
    status: int, code: str, detail: str, *, errors: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The body of a problem (RFC 9457) with the title of ``status``. The names in
    ``errors`` are shown as ``vault.errors.shown`` shows a client's name (cut short, never
    a control character)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": status_title(status),
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": g.get("request_id"),
    }
    if errors:
        shown_errors: dict[str, Any] = {}
        for name, messages in errors.items():
            shown_errors.setdefault(shown(str(name)), []).extend(messages)
        body["errors"] = shown_errors
    return body


def vault_error_body(exc: VaultError) -> dict[str, Any]:
    """The problem body of ``exc`` (for a client error: the vault's 5xx go through
    ``handle_vault_error``), with what it adds (``extra``, e.g. a duplicate's existing id)."""
    errors = {k: list(v) for k, v in exc.errors.items()} if exc.errors else None
    return {**problem_body(exc.status, exc.code, exc.detail, errors=errors), **exc.extra}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An ``application/problem+json`` answer with the title of ``status`` (its body is
    ``problem_body``'s)."""
    response = jsonify(problem_body(status, code, detail, errors=errors))
    response.status_code = status
    response.mimetype = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _wants_html() -> bool:
    if request.path.startswith("/admin"):
        return True
    if not request.path.startswith("/privacy") or request.is_json:
        return False
    # a browser asks for HTML first; a program sending */* or JSON gets problem+json
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def _html(status: int, detail: str) -> Response:
    # the portal's customers get its own page, in their language, without the vault's
    # wording for staff
    template = "privacy/error.html" if request.path.startswith("/privacy") else "admin/error.html"
    body = render_template(template, status=status, title=status_title(status), detail=detail)
    return Response(body, status=status, mimetype="text/html")


_WEBARGS_LOCATIONS = {"json", "query", "form", "headers", "files", "path", "view_args", "cookies"}


def flatten_messages(messages: Any) -> dict[str, list[str]]:
    """webargs reports ``{location: {field: [msg]}}``; clients want ``{field: [msg]}``."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            flat.setdefault(prefix or "_schema", []).extend(node)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(f"{prefix}.{index}", value)
        else:
            flat.setdefault(prefix or "_schema", []).append(str(node))

    if isinstance(messages, dict) and set(messages) <= _WEBARGS_LOCATIONS:
        for location_messages in messages.values():
            walk("", location_messages)
    else:
        walk("", messages)
    return flat


def handle_vault_error(exc: VaultError) -> Response:
    outage = database_outage(exc) if exc.status >= 500 else None
    if outage is not None:  # e.g. the audit event could not be written: the database is away
        return database_unavailable(outage)
    if exc.status >= 500:
        log.error("request.failed", code=exc.code, error_type=type(exc).__name__)
    if _wants_html():
        return _html(exc.status, exc.detail)
    response = jsonify(vault_error_body(exc))
    response.status_code = exc.status
    response.mimetype = "application/problem+json"
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="vault"'
    return response


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = STATUSES.get(status, ("http_error", ""))[0]
    errors = None
    data = getattr(exc, "data", None)
    detail = exc.description or status_title(status)
    if status == 400 and data is None and "JSON" in (exc.description or ""):
        code, detail = "malformed_json", "the request body is not valid JSON"
    if isinstance(data, dict) and "messages" in data:
        errors = flatten_messages(data["messages"])
        detail = "the request has invalid or missing fields"
        if (
            status == 400
            and "json" in data["messages"]
            and "Invalid JSON body." in str(data["messages"])
        ):
            code, detail, errors = "malformed_json", "the request body is not valid JSON", None
    if status == 429:
        detail = "too many requests; slow down and retry later"
    if status == 405:
        detail = f"the method {request.method} is not allowed on this resource"
    if status == 413:
        detail = "the request body is larger than this service accepts"
    if status == 404:
        detail = "the requested resource was not found"
    if status >= 500:
        detail = "an internal error occurred; quote the request id when reporting it"
    if _wants_html():
        return _html(status, detail)
    headers: dict[str, str] = {}
    valid_methods = getattr(exc, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    if status == 429:
        retry = getattr(exc, "retry_after", None)
        if retry:
            headers["Retry-After"] = str(retry)
    return problem(status, code, detail, errors=errors, headers=headers)


DATABASE_UNAVAILABLE = "the database is unavailable at the moment; retry later"


def outage_log(app: Flask | None = None) -> OutageLog:
    """The app's count of requests refused for a database outage (``vault.outages``)."""
    found: OutageLog = (app or current_app).extensions["vault.outages"]
    return found


def database_unavailable(error: BaseException) -> Response:
    """503 with ``Retry-After`` for a request refused because the database cannot be reached
    or did not answer in time (``error``, whose message is neither shown nor logged: it may
    quote SQL or a connection string). One log line per outage, not one per request."""
    outage_log().refused(error)
    settings = current_app.config["VAULT_SETTINGS"]
    headers = {"Retry-After": str(settings.database_retry_after_seconds)}
    if _wants_html():
        # Not admin/error.html: its layout asks the database for the signed-in user.
        body = render_template(
            "admin/unavailable.html",
            status=503,
            title=status_title(503),
            detail=DATABASE_UNAVAILABLE,
        )
        return Response(body, status=503, mimetype="text/html", headers=headers)
    return problem(503, "database_unavailable", DATABASE_UNAVAILABLE, headers=headers)


def wrapped_vault_error(exc: BaseException) -> VaultError | None:
    """The vault error that SQLAlchemy wrapped in ``exc``: a write sent with a later
    statement (``vault.db_deferred.insert_soon``) fails as that statement, with its
    writer's error."""
    if isinstance(exc, sa_exc.StatementError) and isinstance(exc.orig, VaultError):
        return exc.orig
    return None


def handle_unexpected(exc: Exception) -> Response:
    outage = database_outage(exc)
    if outage is not None:
        return database_unavailable(outage)
    wrapped = wrapped_vault_error(exc)
    if wrapped is not None:
        return handle_vault_error(wrapped)
    # The exception's message may quote SQL or input: log its type and where it happened,
    # never its message.
    stack = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    log.error("request.crashed", error_type=type(exc).__name__, stack=stack)
    return handle_http_exception(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(VaultError, handle_vault_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
