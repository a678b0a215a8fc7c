"""The scheduled jobs (retention, grant expiry, privacy-request deadlines, audit sealing),
each under its lock, as `vault worker` and `vault serve` run them."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import Any

from flask import Flask

from vault import runtime, services
from vault.audit.service import SYSTEM
from vault.config import Settings
from vault.db import db, purge_sqlite_wal
from vault.events.delivery import Relay
from vault.events.pacing import Holdoff
from vault.events.sender import Sender
from vault.events.subscriptions import open_secret
from vault.governance.access_requests import record_expired_grants
from vault.governance.retention import DEFAULT_BATCH, Sweep, SweepReport
from vault.governance.retention import run_sweep as sweep_with
from vault.privacy.desk import PrivacyDesk
from vault.privacy.queue import record_deadlines
from vault.worker import Job, Worker, exclusive

# How long the relay keeps its lock before it lets go (and takes it again at once, unless
# another worker has).
RELAY_TURN_SECONDS = 30.0


def run_sweep(*, dry_run: bool, batch_size: int = DEFAULT_BATCH, bar: Any = None) -> SweepReport:
    """One retention sweep in this app context, a commit per batch."""
    store = runtime.customer_store()
    sweep = Sweep(db.session, store.keyring, store.catalogue, now=runtime.now(),
                  batch_size=batch_size, commit=db.session.commit,
                  forget_mail=runtime.mailer().forget)  # fmt: skip
    return sweep_with(sweep, dry_run=dry_run, purge_wal=lambda: purge_sqlite_wal(db.engine),
                      bar=bar)  # fmt: skip


def per_subscription(settings: Settings) -> int:
    """How many attempts may be on their way to one subscription: half of them all, so that
    receivers that hang cannot take every one."""
    return max(1, settings.webhook_concurrency // 2)


def relay(settings: Settings) -> Relay:
    """The event relay over this app context's session (``vault.events.delivery``)."""
    sender = Sender(connect_timeout=settings.webhook_connect_timeout_seconds,
                    timeout=settings.webhook_timeout_seconds,
                    allow_link_local=settings.webhook_allow_link_local,
                    connections_per_host=per_subscription(settings))  # fmt: skip
    cipher = services.webhook_secrets()
    return Relay(db.session, audience_of=services.audience_of_client,
                 secret_of=lambda s: open_secret(cipher, s), sender=sender,
                 commit=db.session.commit, clock=runtime.now,
                 retry_window=dt.timedelta(hours=settings.webhook_retry_hours),
                 holdoff=Holdoff(first=settings.webhook_first_retry_seconds),
                 concurrency=settings.webhook_concurrency,
                 per_subscription=per_subscription(settings))  # fmt: skip


def scheduled_jobs(app: Flask, only: set[str] | None = None) -> Worker:
    """The worker's jobs over ``app`` (those named in ``only``, or all), each under its lock
    (one worker at a time per job)."""
    settings = app.config["VAULT_SETTINGS"]

    def seal() -> str:
        with app.app_context():
            report = runtime.audit_log().seal(db.session, now=runtime.now())
            db.session.commit()
            refused = f"; {len(report.refused)} events refused" if report.refused else ""
            return f"sealed {report.events} events in {report.seals} seals{refused}"

    def sweep() -> str:
        with app.app_context():
            report = run_sweep(dry_run=False)
            done = {"erase_field": 0, "anonymise": 0, "erase_customer": 0}
            for rule in report.rules:
                done[rule.action] += rule.erased
            return (
                f"fields erased for {done['erase_field']} customers, {done['anonymise']}"
                f" anonymised, {done['erase_customer']} erased; {report.held} held back"
            )

    def expire() -> str:
        with app.app_context():
            expired = record_expired_grants(db.session, SYSTEM, now=runtime.now())
            db.session.commit()
            return f"{len(expired)} grants expired"

    def purge_answers() -> str:
        with app.app_context():
            purged = services.idempotent_answers().purge()
            db.session.commit()
            return f"{purged} idempotent answers past their time deleted"

    def deadlines() -> str:
        with app.app_context():
            report = record_deadlines(PrivacyDesk(runtime.customer_store(), SYSTEM))
            db.session.commit()
            return (
                f"{report['overdue']} privacy requests overdue,"
                f" {report['lapsed']} unverified ones lapsed"
            )

    def deliver() -> str:
        with app.app_context(), contextlib.closing(relay(settings)) as relaying:
            return _relayed(relaying.run_once())

    def keep_delivering(stop: threading.Event) -> str:
        # The relay goes on for a while under its lock, then lets go of it, so that another
        # worker may take over should this one stop.
        with app.app_context(), contextlib.closing(relay(settings)) as relaying:
            done = relaying.run_for(stop, seconds=RELAY_TURN_SECONDS,
                                    idle=settings.events_relay_seconds)  # fmt: skip
            return _relayed(done)

    with app.app_context():
        engine = db.engine
    jobs = [
            Job("events.relay", settings.events_relay_seconds,
                exclusive(engine, "events.relay", deliver),
                loop=lambda stop: exclusive(engine, "events.relay",
                                            lambda: keep_delivering(stop))()),
            # in this order, so that one pass seals the events the others wrote
            Job("retention.sweep", settings.retention_sweep_seconds,
                exclusive(engine, "retention.sweep", sweep)),
            Job("grants.expire", settings.grant_expiry_seconds,
                exclusive(engine, "grants.expire", expire)),
            Job("idempotency.purge", settings.idempotency_purge_seconds,
                exclusive(engine, "idempotency.purge", purge_answers)),
            Job("privacy.deadlines", settings.privacy_deadline_seconds,
                exclusive(engine, "privacy.deadlines", deadlines)),
            Job("audit.seal", settings.audit_seal_seconds, exclusive(engine, "audit.seal", seal)),
    ]  # fmt: skip
    return Worker([job for job in jobs if only is None or job.name in only])


def _relayed(done: dict[str, int]) -> str:
    return (
        f"{done['numbered']} events numbered, {done['fanned_out']} deliveries queued,"
        f" {done['delivered']} delivered, {done['failed_attempts']} attempts failed"
    )


def schedule_summary(settings: Settings) -> str:
    return (
        f"events relayed every {settings.events_relay_seconds:g} s,"
        f" audit sealing every {settings.audit_seal_seconds} s, retention every"
        f" {settings.retention_sweep_seconds} s, grant expiry every"
        f" {settings.grant_expiry_seconds} s, kept idempotent answers purged every"
        f" {settings.idempotency_purge_seconds} s, privacy-request deadlines every"
        f" {settings.privacy_deadline_seconds} s"
    )
