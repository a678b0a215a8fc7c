"""The fuzzer (schemathesis over the vault's own OpenAPI document), shared by the suite's
bounded run (tests/api/test_fuzz.py) and the longer one of ``make fuzz`` (``bench.fuzz``).

Every operation of ``/api/v1/openapi.json`` is called with generated input, valid and
invalid, as every role ``vault init`` ships (an API client's bearer token per role, with
``X-Purpose`` set to each purpose the role may state; none for roles that may state none),
against a vault seeded with one of each resource so that generated calls may also aim at
ids that exist. Each answer is checked: no status of 500 or more, every error
``application/problem+json`` with the fields of RFC 9457 and the vault's own, a status the
document gives the operation, and a body that matches the schema the document gives for that
status (schemathesis's ``response_schema_conformance``: success bodies and problems alike).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

import marshmallow as ma
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.core.transport import Response
from schemathesis.openapi.checks import JsonSchemaError

from vault import runtime
from vault.auth.service import create_api_client, create_user, principal_for_user
from vault.db import db
from vault.defaults import ROLE_PURPOSES, ROLES
from vault.governance.access_requests import create_request, set_owner

PROBLEM_FIELDS = ("type", "title", "status", "detail", "code", "request_id")
PROBLEM_TYPE = "application/problem+json"
SAMPLE_FIELDS: dict[str, Any] = {
    "given_name": "Ada",
    "family_name": "Quirke",
    "email": "ada.quirke@example.org",
    "phone": "+44 20 7946 0321",
    "job_title": "Buyer",
    "interests": ["sailing"],
}


@dataclasses.dataclass(frozen=True)
class Caller:
    """One shipped role, stating one of its purposes (or none)."""

    role: str
    purpose: str | None
    token: str

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.purpose is not None:
            headers["X-Purpose"] = self.purpose
        return headers

    @property
    def label(self) -> str:
        return f"{self.role}/{self.purpose or '-'}"


@dataclasses.dataclass
class Finding:
    """An answer that breaks the contract: a server error, an error that is no problem, a
    status or a body the document does not give the operation."""

    kind: str  # "server error", "not a problem", "undocumented status" or "schema violation"
    method: str
    path: str
    caller: str
    status: int
    note: str

    def __str__(self) -> str:
        return (
            f"{self.kind}: {self.method} {self.path} as {self.caller} -> {self.status} {self.note}"
        )


@dataclasses.dataclass
class Tally:
    requests: int = 0
    findings: list[Finding] = dataclasses.field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def summary(self, limit: int = 20) -> str:
        """The first ``limit`` distinct findings (one per kind, operation and status)."""
        seen: dict[tuple[str, str, str, int], Finding] = {}
        for finding in self.findings:
            seen.setdefault((finding.kind, finding.method, finding.path, finding.status), finding)
        return "\n".join(str(f) for f in list(seen.values())[:limit])


def contract_faults(status: int, headers: dict[str, str], body: bytes, method: str) -> list[str]:
    """What breaks the HTTP contract in one answer (empty when nothing does): a status of
    500 or more; an error whose type is not ``application/problem+json`` or whose body lacks
    a field of RFC 9457 (plus ``code`` and ``request_id``) or names another status."""
    faults: list[str] = []
    if status >= 500:
        faults.append("server error")
    if status < 400:
        return faults
    mimetype = headers.get("content-type", "").split(";")[0].strip()
    if mimetype != PROBLEM_TYPE:
        return [*faults, f"not a problem: Content-Type {mimetype or 'missing'}"]
    if method == "HEAD":
        return faults  # HEAD is GET without the body
    try:
        problem = json.loads(body)
    except ValueError:
        return [*faults, "not a problem: the body is not JSON"]
    if not isinstance(problem, dict):
        return [*faults, "not a problem: the body is not an object"]
    missing = [name for name in PROBLEM_FIELDS if name not in problem]
    if missing:
        faults.append(f"not a problem: no {', '.join(missing)}")
    elif problem["status"] != status or not all(
        isinstance(problem[name], str) for name in ("type", "title", "code")
    ):
        faults.append("not a problem: its status, type, title or code is wrong")
    return faults


def _json_path(instance_path: Iterable[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in instance_path)


def schema_faults(operation: Any, response: Response) -> list[str]:
    """Where the body of ``response`` breaks the schema ``operation`` (a schemathesis
    ``APIOperation``) documents for its status, by schemathesis's own check: each as the JSON
    path of the offending part and the kind of rule it breaks (``type``, ``required``,
    ``additionalProperties``, ``format``...), or the kind of failure of a body that cannot be
    read, or a body of a type the status does not document. Never the message: a message
    quotes the body, and a body holds customer data."""
    faults = []
    if response.content and operation.responses.find_by_status_code(response.status_code):
        types = [v for k, v in response.headers.items() if k.lower() == "content-type"]
        mimetype = types[0][0].split(";")[0].strip() if types else ""
        media_types = operation.schema.get_content_types(operation, response)
        if media_types and mimetype not in media_types:
            faults.append(f"schema violation: Content-Type {mimetype or 'missing'} not documented")
    try:
        operation.validate_response(response)
    except FailureGroup as group:
        failures: list[Failure] = list(group.exceptions)
    except Failure as single:
        failures = [single]
    else:
        return faults
    for found in failures:
        if isinstance(found, JsonSchemaError):
            rule = found.schema_path[-1] if found.schema_path else "schema"
            faults.append(f"schema violation: {_json_path(found.instance_path)} breaks {rule}")
        else:
            faults.append(f"schema violation: {type(found).__name__}")
    return sorted(set(faults))


def record(
    tally: Tally, method: str, path: str, caller: str, response: Any, *, sent: str = "",
    documented: Collection[str] = (), operation: Any = None,
) -> None:  # fmt: skip
    """Count one answer (a werkzeug test response or a schemathesis ``Response``) to a call
    of the operation ``method path`` and note what breaks the contract in it, a status the
    operation does not document among them (when ``documented`` lists its statuses) and a
    body its schema does not allow (when ``operation``, the schemathesis ``APIOperation``, is
    given); ``sent`` says what the call sent, for the finding."""
    tally.requests += 1
    if not isinstance(response, Response):
        response = Response.from_wsgi(response)
    headers = {k.lower(): v[0] for k, v in response.headers.items()}
    status, body = response.status_code, response.content
    faults = contract_faults(status, headers, body, method)
    if documented and str(status) not in documented and "default" not in documented:
        faults.append(f"undocumented status: {status}")
    if operation is not None and operation.method.upper() == method:
        faults += schema_faults(operation, response)
    for fault in faults:
        kind, _, note = fault.partition(": ")
        text = f"{note} (sent {sent[:300]})" if sent else note
        tally.findings.append(Finding(kind, method, path, caller, status, text))


@dataclasses.dataclass
class World:
    """A vault seeded for fuzzing: the callers, and one resource of each kind whose ids the
    generated calls may aim at."""

    callers: list[Caller]
    # path template -> {path parameter: the id of a resource that exists}
    ids: dict[str, dict[str, Any]]

    def caller(self, role: str) -> Caller:
        return next(c for c in self.callers if c.role == role)


def _token(app: Flask, role: str) -> str:
    with app.app_context(), db.transaction() as session:
        _client, token = create_api_client(
            session, name=f"fuzz-{role}-{uuid.uuid4().hex[:8]}", role=role, now=runtime.now()
        )
    return token


def _access_request(app: Flask, customer_id: str) -> tuple[str, str]:
    """A pending access request of a staff user (API clients make none) to the profile
    category, which a data owner owns; returns its id and the staff user's."""
    with app.app_context(), db.transaction() as session:
        catalogue = runtime.customer_store().catalogue
        asker = create_user(session, email="asker@example.org", password="p" * 16,
                            roles=["staff"])  # fmt: skip
        owner = create_user(session, email="owner@example.org", password="p" * 16,
                            roles=["data_owner"])  # fmt: skip
        set_owner(session, catalogue, "profile", owner.id, now=runtime.now())
        request = create_request(
            session, catalogue, principal_for_user(asker), purpose="sales", fields=["company"],
            categories=[], customer_ids=[customer_id], region="", duration_days=7,
            justification="A renewal of the contract", now=runtime.now(),
            notes=runtime.note_cipher(),
        )  # fmt: skip
        return request.id, asker.id


def seed(app: Flask) -> World:
    """One API client per shipped role, and through the API as those roles do it: a
    customer with a consent and an interaction, a legal hold, a retention rule, a policy
    rule, a privacy request, a client that the fuzzer may revoke (its own callers' ids are
    never offered to it); and through the services, as API clients cannot, an access request
    of a staff user, whom the fuzzer may disable."""
    tokens = {role: _token(app, role) for role in ROLES}
    callers = [
        Caller(role, purpose, tokens[role])
        for role in ROLES
        for purpose in (ROLE_PURPOSES[role] or (None,))
    ]
    client = app.test_client()

    def post(role: str, path: str, body: Any, purpose: str | None = None) -> Any:
        headers = Caller(role, purpose, tokens[role]).headers
        response = client.post(f"/api/v1{path}", json=body, headers=headers)
        assert response.status_code in (200, 201), (path, response.get_json())
        return response.get_json()

    customer = post("sales", "/customers", {"fields": SAMPLE_FIELDS, "region": "EU"}, "sales")
    cid = customer["id"]
    post("sales", f"/customers/{cid}/consents", {"purpose": "sales", "granted": True}, "sales")
    post("sales", f"/customers/{cid}/interactions", {"kind": "purchase"}, "sales")
    hold = post("compliance_officer", "/legal-holds", {"customer_id": cid, "reason": "Audit"})
    retention = post("admin", "/retention/rules", {
        "category": "profile", "trigger": "created", "period_days": 36500,
        "action": "erase_field"})  # fmt: skip
    rule = post("admin", "/policies", {"role": "staff", "object": "company", "purpose": "sales",
                                       "action": "read", "effect": "allow"})  # fmt: skip
    access, user_id = _access_request(app, cid)
    privacy = post("compliance_officer", "/privacy-requests", {
        "type": "export", "customer_id": cid, "channel": "letter",
        "identity_check": "signed_letter"})  # fmt: skip
    other = post("admin", "/clients", {"name": "fuzzed-client", "role": "sales"})
    customer_ids = {"customer_id": cid}
    ids: dict[str, dict[str, Any]] = {
        "/api/v1/customers/{customer_id}": customer_ids,
        "/api/v1/customers/{customer_id}/consents": customer_ids,
        "/api/v1/customers/{customer_id}/interactions": customer_ids,
        "/api/v1/policies/{rule_id}": {"rule_id": rule["id"]},
        "/api/v1/ownership/{category}": {"category": "contact"},
        "/api/v1/legal-holds/{hold_id}/lift": {"hold_id": hold["id"]},
        "/api/v1/retention/rules/{rule_id}": {"rule_id": retention["id"]},
        "/api/v1/privacy-requests/{request_id}": {"request_id": privacy["id"]},
        "/api/v1/privacy-requests/{request_id}/extend": {"request_id": privacy["id"]},
        "/api/v1/users/{user_id}/disable": {"user_id": user_id},
        "/api/v1/users/{user_id}/enable": {"user_id": user_id},
        "/api/v1/clients/{client_id}/revoke": {"client_id": other["id"]},
    }
    for verb in ("approve", "deny", "revoke", "customers"):
        ids[f"/api/v1/access-requests/{{request_id}}/{verb}"] = {"request_id": access}
    return World(callers, ids)


def openapi_document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def operations(document: dict[str, Any]) -> Iterator[Any]:
    """Every operation of ``document`` (schemathesis ``APIOperation``s)."""
    schema = schemathesis.openapi.from_dict(document)
    # Any character but a lone surrogate (which no wire carries; the corpus sends those):
    # what "utf-8" means too, without hypothesis building a table of the codec (10 s).
    schema.config.generation.codec = None
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the document describes wrongly
            raise result.err()
        yield result.ok()


def keep_the_sweep_a_dry_run(case: Any) -> None:
    """``POST /retention/run`` sweeps for real unless told ``{"dry_run": true}``: a real sweep
    erases what the rules name (the fuzzer may add rules of 0 days itself), and the fuzzer
    must not empty the vault by accident. So every body that would sweep for real is made a
    dry run; a body that is no object, or a ``dry_run`` that is no boolean, is sent as it is
    (refused, 422). The real sweep has its own tests (tests/api/test_retention_api.py)."""
    if case.method.upper() != "POST" or case.path != "/api/v1/retention/run":
        return
    body = case.body
    if not isinstance(body, dict):
        if body is None or type(body).__name__ == "NotSet":
            case.body = {"dry_run": True}
        return
    value = body.get("dry_run", False)
    if isinstance(value, str | int | float | bool) and value in ma.fields.Boolean.falsy:
        case.body = {**body, "dry_run": True}


def fuzz_operation(
    app: Flask,
    world: World,
    operation: Any,
    *,
    max_examples: int,
    tally: Tally,
    callers: Iterable[Caller] | None = None,
) -> None:
    """``max_examples`` generated cases of ``operation`` (valid and invalid, derandomised:
    the same cases every run), each sent as every caller; a case aims at the seeded
    resource's ids instead of generated ones when hypothesis draws so."""
    chosen = list(callers or world.callers)
    known = world.ids.get(operation.path, {})
    documented = {str(code) for code in operation.definition.raw.get("responses", {})}
    client = app.test_client()
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, aim=st.booleans())
    def run(case: Any, aim: bool) -> None:
        if aim and known:
            case.path_parameters = {**case.path_parameters, **known}
        keep_the_sweep_a_dry_run(case)
        for caller in chosen:
            response = case.call(app=app, session=client, headers=caller.headers)
            sent = f"{case.formatted_path} query={case.query} body={case.body!r}"
            record(tally, case.method.upper(), case.path, caller.label, response, sent=sent,
                   documented=documented, operation=operation)  # fmt: skip

    run()


def fuzz_all(
    app: Flask,
    world: World,
    *,
    max_examples: int,
    progress: Callable[[str], None] | None = None,
) -> Tally:
    tally = Tally()
    for operation in operations(openapi_document(app)):
        fuzz_operation(app, world, operation, max_examples=max_examples, tally=tally)
        if progress:
            progress(operation.label)
    return tally
