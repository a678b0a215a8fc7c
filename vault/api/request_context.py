"""Per-request plumbing: the request id, an access log line, the checks on request bodies
that every API route shares (content type, size), and the answer to OPTIONS."""

from __future__ import annotations

import os
import re
import secrets
import time

import structlog
from flask import Flask, Request, Response
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from vault.contexts import context_globals, current_application, current_request
from vault.logs import get_logger

log = get_logger("vault.http")
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"  # where WSGI puts that header
# A client-sent id is echoed only when it cannot carry anything but an identifier.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
SECRET_PATH_ENDPOINTS = {"privacy.download"}


def _bind_request_id() -> None:
    request = current_request()
    # (the header as werkzeug's ``headers.get`` finds it, which raises and drops a KeyError
    # when it is absent, as it usually is)
    sent = request.environ.get(_REQUEST_ID_ENVIRON, "")
    request_id = sent if _SAFE_REQUEST_ID.match(sent) else secrets.token_hex(16)
    values = context_globals()
    values.request_id = request_id
    values.request_started = time.perf_counter()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def _check_body_size() -> None:
    """A body over ``MAX_CONTENT_LENGTH`` is 413, whether its length was announced or not.

    Without a Content-Length (a chunked body) werkzeug reads no further than the limit and
    hands on what it read, which would then be refused as malformed: the body is read here
    instead, and one that fills the limit is taken as over it (there is no telling whether
    more was coming without reading past the limit)."""
    request = current_request()
    if request.method not in _BODY_METHODS:
        return
    limit = current_application().config["MAX_CONTENT_LENGTH"]
    if limit is None:
        return
    length = request.content_length
    if length is not None:
        if length > limit:
            raise RequestEntityTooLarge()
        return
    if _is_chunked(request) and len(request.get_data(cache=True)) >= limit:
        raise RequestEntityTooLarge()


def _is_chunked(request: Request) -> bool:
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _check_api_body() -> None:
    request = current_request()
    if not request.path.startswith("/api/") or request.method not in _BODY_METHODS:
        return
    has_body = bool(request.content_length) or _is_chunked(request)
    if has_body and not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")


def _answer_options() -> ResponseReturnValue | None:
    """An OPTIONS request (a browser's CORS preflight, or a client asking what a route
    allows) is answered with the route's methods before anything else runs: it carries no
    credentials and no purpose, reads nothing, and records no audit event."""
    request = current_request()
    rule = request.url_rule
    if request.method != "OPTIONS" or not getattr(rule, "provide_automatic_options", False):
        return None
    context_globals()._vault_options_answered = True
    return current_application().make_default_options_response()


def answered_options() -> bool:
    """Whether this request is an OPTIONS answered before any route ran (``_answer_options``)."""
    return bool(context_globals().get("_vault_options_answered"))


def _finish(response: Response) -> Response:
    values = context_globals()
    request_id = values.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = values.get("request_started")
    principal = values.get("principal")
    # The path is logged without its query string: ids only, never personal data. A path
    # that carries a secret (a one-time download token) is logged as its route.
    request = current_request()
    path = request.path
    if request.endpoint in SECRET_PATH_ENDPOINTS and request.url_rule is not None:
        path = request.url_rule.rule
    log.info(
        "request.completed",
        method=request.method,
        path=path,
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
        principal=f"{principal.kind}:{principal.id}" if principal else None,
        pid=os.getpid(),  # which of the server's worker processes answered
    )
    return response


def register_request_hooks(app: Flask) -> None:
    app.before_request(_bind_request_id)
    app.before_request(_check_body_size)
    app.before_request(_check_api_body)
    # before authentication (vault.api.auth): a preflight never carries credentials
    app.before_request(_answer_options)
    app.after_request(_finish)
