"""The objects behind Flask's context proxies (``flask.request``, ``flask.g``,
``flask.current_app``), for code that reads several of their attributes.

Every attribute read through a proxy looks the object up in its context again, after a
failed attribute lookup on the proxy that raises and drops an ``AttributeError``: about
8,000 instructions a read, against about 1,500 for taking the object once, and a request
made some 75 such reads. The proxies stay the way to name these objects; code on every
request's path takes the object once and reads it directly.
"""

from __future__ import annotations

from flask import Flask, Request, current_app, g, request
from flask.ctx import RequestContext, _AppCtxGlobals
from flask.globals import request_ctx

# Each proxy's own way to its object (werkzeug's ``LocalProxy._get_current_object``).
_request = request._get_current_object  # type: ignore[attr-defined]
_globals = g._get_current_object
_app = current_app._get_current_object  # type: ignore[attr-defined]
_request_context = request_ctx._get_current_object  # type: ignore[attr-defined]


def current_request() -> Request:
    """The request being handled (``flask.request``); ``RuntimeError`` outside one."""
    found: Request = _request()
    return found


def context_globals() -> _AppCtxGlobals:
    """The application context's namespace (``flask.g``): one per request or command."""
    found: _AppCtxGlobals = _globals()
    return found


def current_application() -> Flask:
    """The app of the current application context (``flask.current_app``)."""
    found: Flask = _app()
    return found


def current_request_context() -> RequestContext:
    """The request's context (``flask.globals.request_ctx``), where extensions keep their
    per-request state."""
    found: RequestContext = _request_context()
    return found
