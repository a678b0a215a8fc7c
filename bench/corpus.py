"""The bad-input corpus, sent to every operation of the OpenAPI document (shared by
tests/api/test_fuzz.py and ``make fuzz``). Each probe starts from a plain call built from the
document (every parameter and body member present, the seeded resources' ids in the path)
and breaks one thing:

- a NUL and an unpaired surrogate in each plain-text input: path ids, query parameters,
  every string of the JSON body (customer fields included) and X-Purpose: a 422 naming it
  (a URL carries UTF-8, in which an unpaired surrogate cannot be written: its bytes are
  sent, and only the contract is checked);
- JSON nested 1,000 and 100,000 levels deep (arrays and objects): a 422 ``json_too_deep``;
- an integer of 5,000 digits as each number of the body (a 422 naming it), as the whole
  body, as each integer query parameter and path id;
- the times ``9999-12-31T23:59:59-23:59`` and ``0001-01-01T00:00:00+14:00`` (ISO 8601, but
  beyond what a UTC time holds) in each time input: a 422 naming it;
- forged list cursors: a 422 naming ``cursor``;
- OPTIONS (200, the methods in Allow, no body) and HEAD (GET's status, no body) on every
  path; an 8,000-character X-Purpose.

Every answer is also held to the contract of ``bench.fuzzing.record``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask

from bench import fuzzing
from bench.fuzzing import Caller, Finding, Tally, World, record

BAD_CHARACTERS = {"NUL": "\x00", "unpaired surrogate": "\ud800"}
BAD_TIMES = ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00")
PLAIN_TIME = "2024-05-01T12:00:00Z"
HUGE_INTEGER = "1" + "0" * 4999
FORGED_CURSORS = ("forged", "eyJvZmZzZXQiOiAxfQ", "-1", "9" * 40, "AAAA.BBBB")
# The lists whose cursor is a signed position (vault.crypto.cursors) or a number the audit
# log's BIGINT must hold: another cursor is a 422. The admins' lists of users and clients
# page by id and name, which any string is a position among: there a forged cursor only has
# to be answered within the contract.
SIGNED_CURSORS = frozenset({"/api/v1/customers", "/api/v1/privacy-requests",
                            "/api/v1/audit/events"})  # fmt: skip
METHODS = ("get", "post", "put", "patch", "delete")
# who sends an operation's probes: a role that may use it, so that nothing but the broken
# input stands between the probe and the route
SENDER = {"customers": "sales", "audit": "compliance_officer",
          "legal_holds": "compliance_officer", "privacy_requests": "compliance_officer",
          "access_request_customers": "staff"}  # fmt: skip


@dataclasses.dataclass
class Operation:
    method: str
    template: str
    parameters: list[dict[str, Any]]
    body_schema: dict[str, Any] | None
    tag: str


@dataclasses.dataclass
class Probe:
    name: str
    method: str
    url: str
    body: bytes | None = None
    purpose: str | None = None
    expect: int | None = None  # the status it must get (None: only the contract)
    field: str | None = None  # the name the 422 must give
    chunked: bool = False  # the body: a JSON string just over the app's size limit, chunked


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for template, item in document["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            spec = item[method]
            body = spec.get("requestBody", {}).get("content", {}).get("application/json")
            yield Operation(
                method.upper(), template, [*item.get("parameters", []),
                                           *spec.get("parameters", [])],
                resolve(document, body["schema"]) if body else None,
                (spec.get("tags") or [""])[0],
            )  # fmt: skip


def plain_value(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A value of ``schema`` as a careful client sends it (booleans true: a retention run
    stays a dry run)."""
    schema = resolve(document, schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties", {})
        # no properties: a map of names (a customer's fields)
        return {name: plain_value(document, sub) for name, sub in properties.items()} or {
            "job_title": "Buyer"
        }
    if kind == "array":
        return [plain_value(document, schema.get("items", {}))]
    scalars = {"integer": max(1, schema.get("minimum", 1)), "boolean": True,
               "number": max(1, schema.get("minimum", 1))}  # fmt: skip
    if kind in scalars:
        return scalars[kind]
    if schema.get("format") == "date-time":
        return PLAIN_TIME
    return "x" * max(schema.get("minLength", 0), 5)


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Each scalar of a JSON value with its dotted path (as the vault's errors name it)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}.{index}")
    else:
        yield path, value


def replaced(value: Any, path: str, new: Any) -> Any:
    """``value`` with the scalar at dotted ``path`` replaced by ``new``."""
    if not path:
        return new
    head, _, rest = path.partition(".")
    if isinstance(value, list):
        return [replaced(v, rest, new) if str(i) == head else v for i, v in enumerate(value)]
    return {k: replaced(v, rest, new) if k == head else v for k, v in value.items()}


class Plain:
    """The plain call of one operation: its path values, query and body."""

    def __init__(self, document: dict[str, Any], operation: Operation, world: World) -> None:
        self.operation = operation
        known = world.ids.get(operation.template, {})
        self.path: dict[str, Any] = {}
        self.query: dict[str, Any] = {}
        self.schemas: dict[str, dict[str, Any]] = {}
        for parameter in operation.parameters:
            name, schema = parameter["name"], resolve(document, parameter.get("schema", {}))
            self.schemas[name] = schema
            if parameter["in"] == "path":
                self.path[name] = known.get(name, plain_value(document, schema))
            elif parameter["in"] == "query" and name != "cursor":
                self.query[name] = plain_value(document, schema)
        body_schema = operation.body_schema
        self.body = plain_value(document, body_schema) if body_schema is not None else None

    def url(self, path: dict[str, str] | None = None, query: dict[str, Any] | None = None) -> str:
        url = self.operation.template
        for name, value in {**self.path, **(path or {})}.items():
            url = url.replace(f"{{{name}}}", quote(str(value), safe="", errors="surrogatepass"))
        query = {**self.query, **(query or {})}
        return url + ("?" + urlencode(query, errors="surrogatepass") if query else "")

    def probe(self, name: str, *, body: Any = None, **kwargs: Any) -> Probe:
        data = json.dumps(self.body if body is None else body).encode() if (
            body is not None or self.body is not None) else None  # fmt: skip
        return Probe(name, self.operation.method, kwargs.pop("url", self.url()), data, **kwargs)


def text_probes(plain: Plain) -> Iterator[Probe]:
    for label, character in BAD_CHARACTERS.items():
        in_url = character != "\ud800"
        expect = 422 if in_url else None
        for name, value in plain.path.items():
            url = plain.url(path={name: f"{value}{character}x"})
            if plain.schemas[name].get("type") == "integer":  # no route has such a path
                yield plain.probe(f"{label} in {name}", url=url, expect=404)
                continue
            yield plain.probe(f"{label} in {name}", url=url, expect=expect,
                              field=name if in_url else None)  # fmt: skip
        for name, value in plain.query.items():
            url = plain.url(query={name: f"{value}{character}x"})
            yield plain.probe(f"{label} in ?{name}", url=url, expect=expect,
                              field=name if in_url else None)  # fmt: skip
        for path, value in leaves(plain.body) if plain.body is not None else ():
            if isinstance(value, str):
                body = replaced(plain.body, path, f"{value}{character}x")
                yield plain.probe(f"{label} in {path}", body=body, expect=422, field=path)
        yield plain.probe(f"{label} in X-Purpose", purpose=f"sales{character}x", expect=422,
                          field="X-Purpose")  # fmt: skip


def number_and_time_probes(plain: Plain) -> Iterator[Probe]:
    method, url = plain.operation.method, plain.url()
    for path, value in leaves(plain.body) if plain.body is not None else ():
        if isinstance(value, int | float) and not isinstance(value, bool):
            # the digits are written into the JSON text: json.dumps cannot write them
            text = json.dumps(replaced(plain.body, path, "<huge>")).encode()
            data = text.replace(b'"<huge>"', HUGE_INTEGER.encode())
            yield Probe(f"5,000 digits in {path}", method, url, data, expect=422, field=path)
        if value == PLAIN_TIME:
            for time in BAD_TIMES:
                body = replaced(plain.body, path, time)
                yield plain.probe(f"{time} in {path}", body=body, expect=422, field=path)
    yield Probe("5,000 digits as the body", method, url, HUGE_INTEGER.encode(), expect=422)
    for name, schema in plain.schemas.items():
        if schema.get("type") == "integer":
            where = "path" if name in plain.path else "query"
            yield plain.probe(
                f"5,000 digits in {name}", url=plain.url(**{where: {name: HUGE_INTEGER}})
            )
        if schema.get("format") == "date-time":
            for time in BAD_TIMES:
                yield plain.probe(f"{time} in ?{name}", url=plain.url(query={name: time}),
                                  expect=422, field=name)  # fmt: skip
        if name == "cursor":
            signed = plain.operation.template in SIGNED_CURSORS
            for cursor in FORGED_CURSORS:
                yield plain.probe(f"cursor {cursor}", url=plain.url(query={"cursor": cursor}),
                                  expect=422 if signed else None,
                                  field="cursor" if signed else None)  # fmt: skip


def structure_probes(plain: Plain) -> Iterator[Probe]:
    for depth in (1_000, 100_000):
        for opening, closing in (("[", "]"), ('{"a":', "}")):
            data = (opening * depth + "1" + closing * depth).encode()
            kind = "arrays" if opening == "[" else "objects"
            yield Probe(f"{kind} nested {depth:,} deep", plain.operation.method, plain.url(),
                        data, expect=422)  # fmt: skip
    yield plain.probe("an 8,000-character X-Purpose", purpose="p" * 8000)
    # a chunked body (no Content-Length) just over the size limit: a 413 wherever a body
    # is read
    expect = 413 if plain.operation.body_schema is not None else None
    yield Probe("a chunked body over the limit", plain.operation.method, plain.url(),
                expect=expect, chunked=True)  # fmt: skip


def verb_probes(plain: Plain, methods: set[str]) -> Iterator[Probe]:
    """OPTIONS and HEAD on the operation's path (once per path: its GET, or else its first
    operation, sends them)."""
    yield Probe("OPTIONS", "OPTIONS", plain.url(), expect=200, field=",".join(sorted(methods)))
    yield Probe("HEAD", "HEAD", plain.url(), expect=None)


def probes(document: dict[str, Any], world: World, kinds: tuple[str, ...]) -> Iterator[
        tuple[Operation, Probe]]:  # fmt: skip
    """The probes of ``kinds`` (``text``, ``numbers``, ``structure``, ``verbs``) for every
    operation of ``document``."""
    every = list(operations(document))
    first_of_path: dict[str, Operation] = {}
    for operation in every:
        first = first_of_path.setdefault(operation.template, operation)
        if operation.method == "GET" and first.method != "GET":
            first_of_path[operation.template] = operation
    for operation in every:
        plain = Plain(document, operation, world)
        if "text" in kinds:
            yield from ((operation, p) for p in text_probes(plain))
        if "numbers" in kinds:
            yield from ((operation, p) for p in number_and_time_probes(plain))
        if "structure" in kinds:
            yield from ((operation, p) for p in structure_probes(plain))
        if "verbs" in kinds and first_of_path[operation.template] is operation:
            methods = {o.method for o in every if o.template == operation.template}
            yield from ((operation, p) for p in verb_probes(plain, methods))


def send(app: Flask, world: World, kinds: tuple[str, ...], tally: Tally) -> None:
    """Send the probes of ``kinds``, each as the role that may use its operation; record
    each answer and what it does not do that its probe expects."""
    client = app.test_client()
    document = client.get("/api/v1/openapi.json").get_json()
    # schemathesis's view of each operation, to hold each answer's body to its schema
    documented = {(o.method.upper(), o.path): o for o in fuzzing.operations(document)}
    for operation, probe in probes(document, world, kinds):
        caller = world.caller(SENDER.get(operation.tag, "admin"))
        headers = Caller(caller.role, probe.purpose or caller.purpose, caller.token).headers
        if probe.body is not None or probe.chunked:
            headers["Content-Type"] = "application/json"
        if probe.chunked:
            headers["Transfer-Encoding"] = "chunked"
            limit = app.config["MAX_CONTENT_LENGTH"]
            response = client.open(
                probe.url, method=probe.method, headers=headers,
                input_stream=io.BytesIO(b'"' + b"x" * limit + b'"'),
                environ_overrides={"wsgi.input_terminated": True},
            )  # fmt: skip
        else:
            response = client.open(probe.url, method=probe.method, data=probe.body, headers=headers)
        label = f"{operation.method} {operation.template}"
        record(tally, probe.method, operation.template, caller.label, response, sent=probe.name,
               operation=documented.get((probe.method, operation.template)))  # fmt: skip
        for fault in expectation_faults(probe, response):
            tally.findings.append(Finding("unexpected", probe.method, operation.template,
                                          caller.label, response.status_code,
                                          f"{probe.name} ({label}): {fault}"))  # fmt: skip


def expectation_faults(probe: Probe, response: Any) -> list[str]:
    if probe.expect is None or response.status_code >= 500:
        return []  # a server error is a finding already
    if response.status_code != probe.expect:
        return [f"expected {probe.expect}, got {response.get_data(as_text=True)[:200]}"]
    if probe.method == "OPTIONS":
        allowed = set(response.headers.get("Allow", "").split(", "))
        missing = set((probe.field or "").split(",")) - allowed
        problems = [f"Allow lacks {sorted(missing)}"] if missing else []
        return problems + (["a body"] if response.get_data() else [])
    if probe.field is not None:
        errors = (response.get_json(silent=True) or {}).get("errors") or {}
        if probe.field not in errors:
            return [f"the 422 names {sorted(errors)}, not {probe.field}"]
    return []
