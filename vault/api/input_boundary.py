"""The one input boundary of every route (API, privacy portal, admin forms): what a client
sends is checked here, after authentication and before any view, service or database sees it.

- A JSON body is parsed once, within the limits of ``vault.api.json_limits``.
- Every text a client sends is plain text (``vault.text``): the JSON body's strings and
  member names, the path's ids, the query string, the form fields, and the headers the vault
  reads as text (``X-Purpose``). Only the long prose fields (``PROSE_FIELDS``) may hold tabs
  and line breaks.

A refusal is a 422 whose ``errors`` name each field (``consents.0.source``, ``customer_id``,
``X-Purpose``; ``_schema``, ``_query`` or ``_form`` when a name itself is refused), never the
value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, Request
from werkzeug.exceptions import BadRequest as NotJSON

from vault.api.json_limits import BODY, LimitedJSONProvider, members
from vault.contexts import current_request
from vault.errors import BadRequest, ValidationFailed
from vault.text import is_plain

# Prose that people write, where a line break is content: an interaction's text, an access
# request's justification, the reason of a legal hold, of its lifting or of a privacy
# request's extension or refusal. As top-level members of a JSON body or as form fields
# only: a customer's field values, codes, ids and names are single-line everywhere (they
# end up in CSV cells, log lines, mail headers and one-line views).
PROSE_FIELDS = frozenset({"text", "justification", "reason"})
# The headers the vault reads as text; the others are matched against patterns (the request
# id), parsed as tokens, or not read.
TEXT_HEADERS = ("X-Purpose",)
# Where WSGI puts each of them (none is Content-Type or Content-Length, which go elsewhere).
_TEXT_HEADER_KEYS = [(name, "HTTP_" + name.upper().replace("-", "_")) for name in TEXT_HEADERS]
# The bodies werkzeug parses as form fields (``request.form`` is empty for any other).
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
REFUSED = "must not hold control characters, bidirectional overrides or unpaired surrogates"
REFUSED_NAME = (
    "holds a name with control characters, bidirectional overrides or unpaired surrogates"
)


def _json_body(request: Request) -> Any:
    """The request's JSON body, parsed within the limits (None when there is none). Raises
    ``BadRequest`` (``malformed_json``) or ``ValidationFailed``."""
    if not request.is_json or not request.get_data(cache=True):
        return None
    try:
        return request.get_json()  # cached: the route's own reading finds it parsed
    except NotJSON:
        raise BadRequest("the request body is not valid JSON", code="malformed_json") from None


def _document_problems(document: Any) -> Iterable[tuple[str, str]]:
    for path, value in members(document):
        if isinstance(value, str):
            # a prose field is a top-level member: its path is its name
            if not is_plain(value, prose=path in PROSE_FIELDS):
                yield path or BODY, REFUSED
        elif isinstance(value, dict) and not all(is_plain(str(k)) for k in value):
            yield path or BODY, REFUSED_NAME


def _parameter_problems(
    pairs: Iterable[tuple[str, str]], where: str, *, prose: frozenset[str] = frozenset()
) -> Iterable[tuple[str, str]]:
    for name, value in pairs:
        if not is_plain(name):
            yield where, REFUSED_NAME
        elif not is_plain(value, prose=name in prose):
            yield name, REFUSED


def request_problems(request: Request) -> dict[str, list[str]]:
    """What ``request`` sends that is not plain text: ``{field: [message]}``. Raises
    ``BadRequest`` or ``ValidationFailed`` for a JSON body beyond the limits."""
    document = _json_body(request)
    view_args = {k: v for k, v in (request.view_args or {}).items() if isinstance(v, str)}
    # (each header as werkzeug's ``headers`` finds it, which raises and drops a KeyError for
    # one that is absent)
    headers = [(h, request.environ[key]) for h, key in _TEXT_HEADER_KEYS if key in request.environ]
    # (the query string and the form are parsed only when there is one: most API requests
    # have neither, and parsing nothing into empty dictionaries was more than half of this check)
    query = request.args.items(multi=True) if request.query_string else ()
    form = request.form.items(multi=True) if request.mimetype in FORM_TYPES else ()
    found = [
        *_parameter_problems(view_args.items(), "_path"),
        *_parameter_problems(query, "_query"),
        *_parameter_problems(form, "_form", prose=PROSE_FIELDS),
        *_parameter_problems(headers, "_headers"),
        *_document_problems(document),
    ]
    problems: dict[str, list[str]] = {}
    for name, message in found:
        messages = problems.setdefault(name, [])
        if message not in messages:
            messages.append(message)
    return problems


def check_request() -> None:
    """before_request: refuse, with a 422 naming the fields, a request that sends anything
    but plain text, or JSON beyond the limits (400 when it is not JSON at all)."""
    request = current_request()
    if request.url_rule is None:  # 404 and 405 are answered as such
        return
    problems = request_problems(request)
    if problems:
        raise ValidationFailed(
            "the request holds characters the vault does not accept", errors=problems
        )


def register_input_boundary(app: Flask) -> None:
    """Read JSON within limits everywhere in ``app`` and check every request (registered
    after authentication, so that a refusal names who sent it)."""
    app.json = LimitedJSONProvider(app)
    app.before_request(check_request)
