"""The retention sweep over 100,000 customers of which 10 % are due: a dry run, then the real
sweep (the shipped rules; the due customers have been inactive for four years, so the
"erase inactive customers" rule erases them: data key, values, blind indexes, interactions,
consent history, one audit event per batch). SQLite, the sweep's default batch size."""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from bench.harness import Context, Result, benchmark
from bench.records import synthetic_customer
from vault import runtime
from vault.customers.interactions import add_interaction
from vault.customers.models import Customer
from vault.db import db
from vault.governance.consent import record_consent
from vault.governance.retention import Sweep

POPULATION = 100_000
DUE_EVERY = 10  # every tenth customer is due
CHUNK = 5_000
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@benchmark("retention.sweep")
def sweep(context: Context) -> list[Result]:
    app = context.vault_app("retention")
    for start in range(0, POPULATION, CHUNK):
        with app.app_context(), db.transaction():
            store = runtime.customer_store()
            batch = range(start, start + CHUNK)
            due = [i for i in batch if i % DUE_EVERY == 0]
            recent = [i for i in batch if i % DUE_EVERY]
            for indices, age_days in ((due, 4 * 365), (recent, 30)):
                store.now = NOW - dt.timedelta(days=age_days)
                ids = store.create_many([(f, r) for r, f in map(synthetic_customer, indices)])
                # some history to erase with the due ones, and around them
                for customer_id in ids[::2]:
                    add_interaction(store, customer_id, kind="purchase", amount="19.90",
                                    currency="EUR", text="Order of two items")  # fmt: skip
                    record_consent(store, customer_id, purpose="marketing", granted=True,
                                   source="web", evidence="sign-up form")  # fmt: skip

    def run(dry_run: bool) -> tuple[float, int]:
        with app.app_context():
            store = runtime.customer_store()
            runner = Sweep(db.session, store.keyring, store.catalogue, now=NOW,
                           commit=db.session.commit)  # fmt: skip
            began = time.perf_counter()
            report = runner.run(dry_run=dry_run)
            return time.perf_counter() - began, report.erased

    dry_seconds, would = run(dry_run=True)
    real_seconds, erased = run(dry_run=False)
    with app.app_context():
        active = db.session.scalar(
            sa.select(sa.func.count()).select_from(Customer).where(Customer.status == "active")
        )
    due_count = POPULATION // DUE_EVERY
    if not would == erased == due_count or active != POPULATION - due_count:
        raise RuntimeError(
            f"the sweep erased {erased} of {due_count} due customers ({would} in the dry run)"
        )
    rate = erased / real_seconds
    return [
        Result("retention.sweep", "dry run over 100k customers", dry_seconds, "s", "<= 5 s",
               dry_seconds <= 5),
        Result("retention.sweep", "erasures per second (10k due of 100k)", rate, "customers/s",
               ">= 5,000", rate >= 5_000),
        Result("retention.sweep", "sweep erasing 10k customers", real_seconds, "s"),
    ]  # fmt: skip
