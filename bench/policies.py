"""Governed access: a governed page against the ungoverned baselines, what a cached plan
costs, compiling a plan from 1,000 rules, plan-based decisions against pycasbin's enforce()
per field, and what the audit event adds to a single-customer governed read.

The governed page runs the governed access's own page operation (access plan, row filter, decrypt,
transform, audit event, commit) inside a request context, without HTTP parsing or token
checks, which the baselines do not pay either.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, g

from bench.harness import Context, Result, benchmark, median
from bench.records import Sealed
from bench.synthetic import FIELDS, synthetic_customer
from vault import runtime, services
from vault.auth.principal import Principal
from vault.customers.catalogue import load_catalogue
from vault.db import db
from vault.policies import versions
from vault.policies.plan import Rule, compile_plan
from vault.policies.service import COUNTER, load_enforcer, plans

PAGE = 100
POPULATION = 2_000
SALES = Principal("client", "cli_bench", "bench", frozenset({"sales"}), frozenset({"sales"}))


def _populate(app: Flask) -> list[str]:
    with app.app_context(), db.transaction():
        store = runtime.customer_store()
        ids = store.create_many(
            [(f, r) for r, f in (synthetic_customer(i) for i in range(POPULATION))]
        )
    with app.app_context(), db.transaction() as session, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        Sealed.metadata.create_all(session.connection())
        for i in range(POPULATION):
            _region, fields = synthetic_customer(i)
            session.add(Sealed(id=i + 1, **{**fields, "interests": ",".join(fields["interests"])}))
    return ids


def _in_request(app: Flask, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` as the body of one governed request, commit included."""
    with app.test_request_context("/api/v1/customers", headers={"X-Purpose": "sales"}):
        g.principal, g.purpose, g.request_id = SALES, "sales", "bench"
        try:
            result = fn()
            db.session.commit()
        finally:
            db.session.close()
        return result


@benchmark("policies.page")
def governed_page(context: Context) -> list[Result]:
    app = context.vault_app("policies-page")
    ids = _populate(app)

    def governed() -> Any:
        items, _next = services.governed(SALES, "sales").page(limit=PAGE, cursor=None)
        return items

    def baseline() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            rows = db.session.scalars(sa.select(Sealed).order_by(Sealed.id).limit(PAGE)).all()
            return [[getattr(r, f) for f in FIELDS] for r in rows]

    samples: dict[str, list[float]] = {"governed": [], "baseline": []}
    for n in range(120):
        for name in ("governed", "baseline") if n % 2 else ("baseline", "governed"):
            fn = governed if name == "governed" else baseline
            began = time.perf_counter()
            out = _in_request(app, fn)
            samples[name].append(time.perf_counter() - began)
            assert len(out) == PAGE
    db.state(app).engine.dispose()
    gov, base = median(samples["governed"][20:]), median(samples["baseline"][20:])
    ratio = gov / base
    result = functools.partial(Result, "policies.page")
    del ids
    governed_label = "governed page of 100 x 10 fields (plan, filter, decrypt, transform, audit)"
    return [
        result(governed_label, gov * 1e6, "µs"),
        result("sqlalchemy-utils page of the same records, no governance", base * 1e6, "µs"),
        result("governed / sqlalchemy-utils", ratio, "x", "≤ 0.5x", ratio <= 0.5),
    ]


def _synthetic_rules(count: int) -> list[Rule]:
    rules = []
    purposes = ["sales", "support", "marketing", "analytics", "billing"]
    actions = ("read", "write", "create")
    for i in range(count):
        effect = "deny" if i % 17 == 0 else "allow"
        transform = ("", "mask", "year")[i % 3] if i % 3 == 0 else ""
        rules.append(
            Rule(
                f"role{i % 40}",
                FIELDS[i % len(FIELDS)],
                purposes[i % 5],
                actions[i % 3],
                effect,
                transform,
            )
        )
    return rules


@benchmark("policies.plan")
def plan_costs(context: Context) -> list[Result]:
    app = context.vault_app("policies-plan")
    with app.app_context():
        session = db.session
        catalogue = load_catalogue(session)
        stamp = versions.current(session, COUNTER)
        roles = frozenset({"sales"})
        plans.plan(session, catalogue, roles, "sales", stamp=stamp)
        lookups = []
        for _ in range(2_000):
            began = time.perf_counter()
            plans.plan(session, catalogue, roles, "sales", stamp=stamp)
            lookups.append(time.perf_counter() - began)
        rules = _synthetic_rules(1_000)
        compiles = []
        for _ in range(50):
            began = time.perf_counter()
            compile_plan(
                rules,
                frozenset({f"role{i}" for i in range(40)}),
                "sales",
                catalogue,
                consent_required=False,
            )
            compiles.append(time.perf_counter() - began)
        enforcer = load_enforcer(session)
        page_fields = [(name, f"category:{catalogue[name].category}") for name in FIELDS] * PAGE

        def per_field() -> int:
            return sum(enforcer.enforce("sales", f, c, "sales", "read") for f, c in page_fields)

        def planned() -> int:
            plan = plans.plan(session, catalogue, roles, "sales", stamp=stamp)
            readable = plan.readable
            return sum(f in readable for f, _c in page_fields)

        assert per_field() == planned()
        enforce_s = median([_time(per_field) for _ in range(5)])
        plan_s = median([_time(planned) for _ in range(200)])
    db.state(app).engine.dispose()
    lookup_us, compile_ms, speedup = (
        median(lookups) * 1e6,
        median(compiles) * 1e3,
        enforce_s / plan_s,
    )
    result = functools.partial(Result, "policies.plan")
    return [
        result("cached plan lookup, median", lookup_us, "µs", "≤ 20 µs", lookup_us <= 20),
        result(
            "compiling a plan from 1,000 rules, median",
            compile_ms,
            "ms",
            "≤ 10 ms",
            compile_ms <= 10,
        ),
        result("page decisions: enforce() per field (1,000 calls)", enforce_s * 1e3, "ms"),
        result("page decisions: one plan", plan_s * 1e3, "ms"),
        result("plan / per-field enforce() speed-up", speedup, "x", "≥ 100x", speedup >= 100),
    ]


def _time(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


@benchmark("audit.governed_read")
def audit_overhead(context: Context) -> list[Result]:
    app = context.vault_app("audit-governed")
    ids = _populate(app)

    def read(audited: bool, customer_id: str) -> None:
        ctx = services.governed(SALES, "sales")
        if not audited:
            ctx.record = lambda *_args, **_kwargs: None
        ctx.read(customer_id)

    samples: dict[bool, list[float]] = {False: [], True: []}
    for n in range(1_200):
        for audited in (True, False) if n % 2 else (False, True):
            customer_id = ids[n % len(ids)]
            began = time.perf_counter()
            _in_request(app, lambda a=audited, c=customer_id: read(a, c))
            samples[audited].append(time.perf_counter() - began)
    db.state(app).engine.dispose()
    plain, audited = median(samples[False][100:]), median(samples[True][100:])
    added = audited / plain - 1
    result = functools.partial(Result, "audit.governed_read")
    return [
        result("single-customer governed read without its audit event", plain * 1e6, "µs"),
        result("single-customer governed read with its audit event", audited * 1e6, "µs"),
        result("added by the audit", added * 100, "%", "≤ 25 %", added <= 0.25),
    ]
