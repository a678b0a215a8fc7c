"""The OpenAPI document as the API really answers (API.md §2).

flask-smorest documents what its decorators name: the success response of a route declared
with ``@response``, a ``422`` for its arguments, and a ``default`` error of its own schema
(``code`` an integer, ``status`` a string), which the API never sends. ``truthful`` completes
the document as it is served: every error the API can answer, as the problem+json body it
really is (RFC 9457, ``vault.api.errors``); the ``X-Purpose`` header on the routes that read
or change customer data; a success response on the routes that return a plain body; the
session cookie beside the bearer token."""

from __future__ import annotations

import copy
import http
from typing import Any

from flask import current_app
from flask_smorest import Api

PROBLEM = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error (RFC 9457). It never holds a customer's value.",
    "required": ["type", "title", "status", "code", "request_id"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the error's code"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "e.g. purpose_required, not_found"},
        "request_id": {"type": "string", "description": "As in the X-Request-ID header"},
        "errors": {
            "type": "object",
            "description": "Field -> messages, for validation_failed (422)",
            "additionalProperties": {},
        },
    },
    "additionalProperties": True,
}
PURPOSE_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": "X-Purpose",
    "required": True,
    "schema": {"type": "string", "maxLength": 64},
    "description": "The purpose of use (a code of GET /api/v1/purposes): what may be read and "
    "written follows from it, and it is written to the audit trail. Missing: 400 "
    "purpose_required; one the caller may not use: 403 purpose_not_allowed.",
}
_METHODS = {"get", "put", "post", "delete", "patch"}
_WRITES = {"put", "post", "patch", "delete"}
_EXPORTS = {  # routes whose answer is a file, not JSON
    "/api/v1/audit/export": {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


def _needs_purpose(path: str) -> bool:
    return path.startswith("/api/v1/customers") or (
        path.startswith("/api/v1/access-requests/") and path.endswith("/customers")
    )


def _errors_of(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses a route can answer: authentication, authorisation, rate limits and
    an unavailable database everywhere; a missing thing or a malformed id where the path
    names one; a missing purpose where one is needed; a body that is no JSON, names what is
    not there, conflicts, is too large or is invalid where something is written; invalid
    arguments where they are read. The fuzz test holds every answer to these."""
    statuses = [401, 403, 429, 503]
    if "{" in path or _needs_purpose(path):
        statuses += [404, 422]  # (a path parameter of the wrong shape is a 422)
    if _needs_purpose(path):
        statuses.append(400)
    if method in _WRITES:  # a body that is no JSON is a 400; one naming nothing, a 404
        statuses += [400, 404, 409, 413, 422]
    elif operation.get("parameters"):
        statuses.append(422)
    return sorted(set(statuses))


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": http.HTTPStatus(status).phrase,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# apispec writes a nullable nested schema (OpenAPI 3.0) as "the schema, or any object or
# null"; this is its "or null" alone, so that the body is held to the nested schema.
_ANY_OBJECT_OR_NULL = {"type": "object", "nullable": True}
_ONLY_NULL = {"type": "object", "nullable": True, "enum": [None]}


def _nested_or_null(schemas: dict[str, Any]) -> None:
    """Each nullable nested property of ``schemas`` made its schema or null (see above)."""
    for schema in schemas.values():
        for prop in schema.get("properties", {}).values():
            branches = prop.get("anyOf", [])
            if _ANY_OBJECT_OR_NULL in branches:
                branches[branches.index(_ANY_OBJECT_OR_NULL)] = dict(_ONLY_NULL)


def truthful(document: dict[str, Any], *, session_cookie: str) -> dict[str, Any]:
    """``document`` (flask-smorest's) completed as described above; a new dict."""
    spec = copy.deepcopy(document)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("Error", None)  # flask-smorest's own, never answered
    schemas["Problem"] = PROBLEM_SCHEMA
    _nested_or_null(schemas)
    responses = components.setdefault("responses", {})
    for name in list(responses):  # flask-smorest's, by status name, of its Error schema
        if name == "DEFAULT_ERROR" or name in http.HTTPStatus.__members__:
            del responses[name]
    schemes = components.setdefault("securitySchemes", {})
    schemes["session"] = {"type": "apiKey", "in": "cookie", "name": session_cookie,
                          "description": "The admin UI's session (and its CSRF token)"}  # fmt: skip
    spec["security"] = [{"bearer": []}, {"session": []}]
    used: set[int] = set()
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            answers = operation.setdefault("responses", {})
            answers.pop("default", None)
            named = {int(c) for c in answers if str(c).startswith(("4", "5"))}  # e.g. a 412
            if not any(str(code).startswith("2") for code in answers):
                content = _EXPORTS.get(path, {"application/json": {"schema": {"type": "object"}}})
                answers["200"] = {"description": "OK", "content": content}
            parameters = operation.setdefault("parameters", [])
            if _needs_purpose(path) and not any(p.get("name") == "X-Purpose" for p in parameters):
                parameters.append(PURPOSE_PARAMETER)
            if not parameters:
                del operation["parameters"]
            for status in sorted(named | set(_errors_of(path, method, operation))):
                answers.pop(status, None)
                answers[str(status)] = {"$ref": f"#/components/responses/PROBLEM_{status}"}
                used.add(status)
    for status in sorted(used):
        responses[f"PROBLEM_{status}"] = _problem_response(status)
    return spec


class VaultApi(Api):
    """flask-smorest's ``Api``, serving the document ``truthful`` completes."""

    def _openapi_json(self) -> Any:
        document = truthful(self.spec.to_dict(),
                            session_cookie=current_app.config["SESSION_COOKIE_NAME"])  # fmt: skip
        return current_app.json.response(document)
