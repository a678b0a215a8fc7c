"""``Idempotency-Key`` on the API's creating routes (API.md §2): ``@idempotent`` under the
route's decorator. The same key with the same request within the keeping time (24 h by
default) answers the first answer again, marked ``Idempotent-Replayed: true``, and creates
nothing; the key with another request is a 422 (``idempotency_key_reused``). Keys are per
principal: two clients never see each other's. Only a successful answer is kept; a request
that failed may be sent again with its key. A replay is audited (``request.replayed``, naming
the customers of the answer): it hands out the same data again."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, make_response

from vault.api.auth import current_principal
from vault.audit_trail import aim, audit, audited_customers, endpoint_action
from vault.contexts import context_globals, current_request
from vault.idempotency.service import Answer, request_digest
from vault.services import idempotent_answers

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
# The headers of an answer that belong to it (the rest are the request's own: its id, the
# security headers, ...).
_KEPT_HEADERS = ("ETag", "Location")

KEY_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Makes a retry safe: the same key with the same request within 24 hours "
    "answers the first answer again (with Idempotent-Replayed: true) and creates nothing; "
    "the key with another request is a 422 idempotency_key_reused; while the first request "
    "is still at work, a 409 idempotency_key_in_use. Keys are per client.",
}

View = TypeVar("View", bound=Callable[..., Any])


def _replayed(answer: Answer) -> Response:
    aim(answer.customer_ids)
    audit("request.replayed", customer_ids=answer.customer_ids, reason=endpoint_action())
    response = Response(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers.items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def idempotent(view: View) -> View:
    """``view`` answering a request with an ``Idempotency-Key`` once per key (see the
    module), documented with the header."""

    @functools.wraps(view)
    def answering(*args: Any, **kwargs: Any) -> Response:
        request = current_request()
        key = request.headers.get(HEADER)
        if key is None:
            return make_response(view(*args, **kwargs))
        answers = idempotent_answers()
        digest = request_digest(request.method, request.path,
                                request.headers.get("X-Purpose", ""),
                                request.get_data(cache=True))  # fmt: skip
        claimed = answers.claim(current_principal().id, key, digest)
        if isinstance(claimed, Answer):
            return _replayed(claimed)
        response = make_response(view(*args, **kwargs))
        if 200 <= response.status_code < 300:
            answers.keep_answer(claimed, _answer_of(response))
        return response

    answering._apidoc = _documented(getattr(view, "_apidoc", {}))  # type: ignore[attr-defined]
    return cast(View, answering)


def _answer_of(response: Response) -> Answer:
    about = list(dict.fromkeys([*audited_customers(), *context_globals().get("_vault_aim", [])]))
    return Answer(
        status=response.status_code,
        body=response.get_data(),
        content_type=response.content_type or "application/json",
        headers={n: response.headers[n] for n in _KEPT_HEADERS if n in response.headers},
        customer_ids=tuple(about),
    )


def _documented(apidoc: dict[str, Any]) -> dict[str, Any]:
    """flask-smorest's documentation of a view with the key's header parameter added."""
    documented = copy.deepcopy(apidoc)
    manual = documented.setdefault("manual_doc", {})
    manual["parameters"] = [*manual.get("parameters", []), KEY_PARAMETER]
    return documented
