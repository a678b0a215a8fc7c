"""The relay: numbers committed events, fans them out to subscriptions, and delivers them as
signed webhooks (``vault.events.sender``).

At least once: a delivery is marked delivered only after its receiver answered 2xx, in a
transaction of its own after the call; a relay killed in between leaves it pending, and the
next round sends it again (a receiver deduplicates by ``webhook-id``, the event's id). In
order per customer: a delivery waits while an earlier one for the same customer and
subscription is pending (one on its way is still pending). Anything but a 2xx (a timeout, a
refused connection, a redirect, a 5xx) is retried with exponential backoff and jitter until
the retry window has passed, then marked failed.

A receiver that is down does not hold up the others: attempts go out on a thread pool with at
most ``per_subscription`` of them on their way to one subscription, and a subscription whose
receiver cannot be reached is left alone for a while (``Holdoff``) instead of being tried
once per waiting event. When it answers again, its waiting retries are made due at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.events.audience import Audience
from vault.events.models import Delivery, Event, Subscription
from vault.events.outbox import number_committed
from vault.events.pacing import Backlog, Finished, Holdoff, InFlight, by_subscription
from vault.events.relay_statements import DUE, RECORD_ATTEMPT, RECORD_UNSENT
from vault.events.sender import Attempt, Outcome, Sender, retry_delay
from vault.logs import get_logger

log = get_logger("vault.events")

FAN_OUT_BATCH = 2_000
DUE_BATCH = 500
# Outcomes are written in batches: when this many have finished, or this long after the last.
RECORD_BATCH = 256
RECORD_SECONDS = 0.05
# Attempts are started in batches too, while others are on their way: when this many have
# finished since the last start, or this long after it (one hand-over to the sender's loop
# for several attempts, not one each).
START_BATCH = 8
START_SECONDS = 0.005
_DELIVERIES = cast(sa.Table, Delivery.__table__)
_EVENTS = cast(sa.Table, Event.__table__)


@dataclasses.dataclass
class Relay:
    """The relay over one session. ``run_once`` does one round and waits for its attempts
    (``vault worker --once``, tests); ``run_for`` goes on round after round without waiting
    for slow receivers, as the worker runs it."""

    session: Session
    audience_of: Callable[[str], Audience]  # API client id -> what it may hear of
    secret_of: Callable[[Subscription], str]
    sender: Sender
    commit: Callable[[], None]
    clock: Callable[[], dt.datetime]
    retry_window: dt.timedelta = dt.timedelta(hours=24)
    concurrency: int = 64  # attempts on their way at once
    per_subscription: int = 32  # of them, to one subscription
    holdoff: Holdoff = dataclasses.field(default_factory=Holdoff)
    _secrets: dict[tuple[str, bytes], str] = dataclasses.field(default_factory=dict)

    def close(self) -> None:
        """Stop the sender (its loop and connections)."""
        self.sender.close()

    def run_once(self) -> dict[str, int]:
        """Number, fan out, attempt every due delivery once and record the outcomes."""
        numbered, fanned, subscriptions = self._prepare()
        backlog = by_subscription(self.due())
        self.commit()  # the reads must not hold a transaction open across the calls
        started = self._start(backlog, {}, subscriptions, {})
        outcomes = [future.result() for future, _sub in started.values()]
        self._record(outcomes)
        return _summary(numbered, fanned, outcomes)

    def run_for(self, stop: threading.Event, *, seconds: float, idle: float) -> dict[str, int]:
        """Go on until ``stop`` is set or ``seconds`` have passed, without waiting for slow
        receivers: attempts are started from a backlog of due deliveries as room frees up,
        their outcomes written in batches; the backlog is read again (after numbering and
        fanning out new events) when it runs out, and at least every ``idle`` seconds, which
        is also how long it waits with nothing to do. Attempts on their way at the end are
        waited for (their timeouts bound it) and recorded."""
        deadline = time.monotonic() + seconds
        totals = {"numbered": 0, "fanned_out": 0, "delivered": 0, "failed_attempts": 0}
        in_flight: InFlight = {}
        finished = Finished()
        done: list[Outcome] = []  # finished, not yet written
        backlog: Backlog = {}
        subscriptions: dict[str, Subscription] = {}
        audiences: dict[str, Audience] = {}
        looked = written = last_start = -idle
        finished_since_start = 0
        while not stop.is_set() and time.monotonic() < deadline:
            taken = finished.take(in_flight)
            done += taken
            finished_since_start += len(taken)
            now = time.monotonic()
            if done and (len(done) >= RECORD_BATCH or now - written >= RECORD_SECONDS):
                self._record(done)
                _add(totals, _summary(0, 0, done))
                done, written = [], now
            stale = now - looked >= idle
            if (stale or not backlog) and now - looked >= RECORD_SECONDS:
                numbered, fanned, subscriptions = self._prepare()
                _add(totals, _summary(numbered, fanned, []))
                away = set(in_flight) | {o.delivery_id for o in done}
                backlog = by_subscription(self.due(DUE_BATCH + len(away)), away)
                self.commit()
                audiences, looked = {}, now
            started: InFlight = {}
            if backlog and (not in_flight or finished_since_start >= START_BATCH
                            or now - last_start >= START_SECONDS):  # fmt: skip
                started = self._start(backlog, in_flight, subscriptions, audiences)
                finished.watch(started)
                in_flight.update(started)
                finished_since_start, last_start = 0, now
            if not started:
                if in_flight:
                    pause = START_SECONDS if backlog else RECORD_SECONDS
                    finished.event.wait(pause if (done or backlog) else idle)
                else:
                    stop.wait(RECORD_SECONDS if (done or backlog) else idle)
        done += [future.result() for future, _sub in in_flight.values()]
        self._record(done)
        _add(totals, _summary(0, 0, done))
        return totals

    def _prepare(self) -> tuple[int, int, dict[str, Subscription]]:
        # anything this long-lived session still holds (a client, its role) is read again at
        # this look: a client revoked or a role changed since applies from here on
        self.session.expire_all()
        numbered = number_committed(self.session, now=self.clock())
        self.commit()
        subscriptions = {s.id: s for s in self._subscriptions()}
        fanned = self.fan_out(subscriptions.values())
        self.commit()
        return numbered, fanned, subscriptions

    def _subscriptions(self) -> list[Subscription]:
        # as they are now: an admin may have changed one since this session last read it
        query = sa.select(Subscription).execution_options(populate_existing=True)
        return list(self.session.scalars(query))

    # --- fan-out ------------------------------------------------------------------------------

    def fan_out(self, subscriptions: Iterable[Subscription] | None = None) -> int:
        """Queue, for every subscription, the numbered events since it last looked that it
        may hear of; returns how many deliveries were queued. A subscription replayed
        meanwhile (its mark moved back) is left for the next round."""
        if subscriptions is None:
            subscriptions = self._subscriptions()
        top = self.session.scalar(sa.select(sa.func.max(Event.position))) or 0
        queued = 0
        for subscription in subscriptions:
            start = subscription.fanned_out_to
            if start >= top:
                continue
            audience = self.audience_of(subscription.client_id)
            types = [t for t in subscription.event_types.split(",") if t]
            for low in range(start, top, FAN_OUT_BATCH):
                high = min(low + FAN_OUT_BATCH, top)
                queued += self._fan_out_range(subscription, audience, types, low, high)
            self.session.execute(
                sa.update(Subscription)
                .where(Subscription.id == subscription.id, Subscription.fanned_out_to == start)
                .values(fanned_out_to=top)
                .execution_options(synchronize_session=False)
            )
        return queued

    def _fan_out_range(self, subscription: Subscription, audience: Audience, types: list[str],
                       start: int, end: int) -> int:  # fmt: skip
        events = self.session.execute(
            sa.select(_EVENTS)
            .where(
                Event.position > start,
                Event.position <= end,
                Event.type.in_(types),
                audience.condition(),
            )
            .order_by(Event.position)
        ).all()
        if not events:
            return 0
        known = set(
            self.session.scalars(
                sa.select(Delivery.event_seq).where(
                    Delivery.subscription_id == subscription.id,
                    Delivery.event_seq.in_([e.seq for e in events]),
                )
            )
        )
        now = self.clock()
        rows = [
            {
                "subscription_id": subscription.id,
                "event_seq": e.seq,
                "position": e.position,
                "customer_id": e.customer_id or "",
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "last_error": "",
            }
            for e in events
            if e.seq not in known and audience.body(e) is not None
        ]
        if rows:
            self.session.connection().execute(sa.insert(Delivery), rows)
        return len(rows)

    # --- delivery -----------------------------------------------------------------------------

    def due(self, limit: int = DUE_BATCH) -> list[Any]:
        """Deliveries to attempt now, as rows with their event's columns: of an active
        subscription, each the first pending one of its customer for its subscription, and
        due. One pass over the pending deliveries (numbered per customer by a window), not a
        search for earlier ones per delivery."""
        return list(self.session.execute(DUE, {"now": self.clock(), "limit": limit}).all())

    def _start(self, backlog: Backlog, in_flight: InFlight,
               subscriptions: dict[str, Subscription],
               audiences: dict[str, Audience]) -> InFlight:  # fmt: skip
        """Start what of ``backlog`` (rows of ``due`` by subscription) fits, taking it out of
        the backlog: at most ``concurrency`` on their way, ``per_subscription`` to one
        subscription, none to one held off. Returns them (delivery id -> (future,
        subscription id)). A delivery whose client may no longer hear of it is recorded as
        failed. The subscriptions that started something go to the end of the backlog, so
        that the next start begins with the others."""
        busy: dict[str, int] = {}
        for _future, subscription_id in in_flight.values():
            busy[subscription_id] = busy.get(subscription_id, 0) + 1
        room = self.concurrency - len(in_flight)
        attempts: list[Attempt] = []
        unseen: list[Outcome] = []
        served: list[str] = []
        for subscription_id, rows in list(backlog.items()):
            if len(attempts) >= room:
                break
            subscription = subscriptions.get(subscription_id)
            if subscription is None:  # deleted meanwhile
                del backlog[subscription_id]
                continue
            if self.holdoff.holds(subscription_id):
                continue
            audience = audiences.get(subscription.client_id)
            if audience is None:
                audience = self.audience_of(subscription.client_id)
                audiences[subscription.client_id] = audience
            free = min(self.per_subscription - busy.get(subscription_id, 0),
                       room - len(attempts))  # fmt: skip
            secret = self._secret(subscription) if free > 0 else ""
            before = len(attempts)
            while rows and free > 0:
                row = rows.popleft()
                body = None if audience.hears_nothing else audience.body(row)
                if body is None:  # its client may no longer hear of it (revoked, fields hidden)
                    unseen.append(Outcome(row.delivery_id, None, "not_visible"))
                    continue
                free -= 1
                attempts.append(Attempt(row.delivery_id, subscription_id, subscription.url,
                                        row.id, _encode(body), secret, row.attempts,
                                        row.queued_at))  # fmt: skip
            if not rows:
                del backlog[subscription_id]
            elif len(attempts) > before:
                served.append(subscription_id)
        for subscription_id in served:
            backlog[subscription_id] = backlog.pop(subscription_id)
        self._record(unseen)
        futures = self.sender.submit_many(attempts) if attempts else []
        return {
            a.delivery_id: (f, a.subscription_id) for a, f in zip(attempts, futures, strict=True)
        }

    def _secret(self, subscription: Subscription) -> str:
        key = (subscription.id, subscription.secret_ciphertext)
        if key not in self._secrets:
            self._secrets[key] = self.secret_of(subscription)
        return self._secrets[key]

    def _record(self, outcomes: Iterable[Outcome]) -> None:
        """Write the outcomes, of deliveries still pending (one deleted with its subscription
        meanwhile is left alone), and commit: one UPDATE for those delivered with one status
        code, one per failed attempt."""
        outcomes = list(outcomes)
        if not outcomes:
            return
        now = self.clock()
        delivered: dict[int | None, list[int]] = {}
        tried: list[dict[str, Any]] = []
        unsent: list[dict[str, Any]] = []
        recovered: set[str] = set()
        for outcome in outcomes:
            attempt = outcome.attempt
            if attempt is None:  # never sent: its client may no longer hear of it
                unsent.append({"target": outcome.delivery_id, "new_last_error": outcome.error})
                continue
            if not outcome.error:
                delivered.setdefault(outcome.status_code, []).append(outcome.delivery_id)
                if self.holdoff.reached(attempt.subscription_id):
                    recovered.add(attempt.subscription_id)
                continue
            count = attempt.attempts + 1
            row: dict[str, Any] = {"target": outcome.delivery_id, "new_status": "pending",
                   "new_attempts": count, "new_at": now,
                   "new_code": outcome.status_code, "new_error": outcome.error,
                   "new_next": now, "new_delivered_at": None}  # fmt: skip
            tried.append(row)
            if outcome.unreachable:
                self.holdoff.failed(attempt.subscription_id)
            if now - attempt.created_at >= self.retry_window:
                row["new_status"] = "failed"
                log.warning("webhook.failed", delivery_id=attempt.delivery_id,
                            subscription_id=attempt.subscription_id, error=outcome.error,
                            attempts=count)  # fmt: skip
            else:
                delay = retry_delay(count, first=self.holdoff.first)
                row["new_next"] = now + dt.timedelta(seconds=delay)
                log.info("webhook.retrying", delivery_id=attempt.delivery_id,
                         subscription_id=attempt.subscription_id, error=outcome.error,
                         status=outcome.status_code, attempts=count,
                         next_in_seconds=round(delay, 1))  # fmt: skip
        connection = self.session.connection()
        for code, ids in delivered.items():
            connection.execute(
                sa.update(_DELIVERIES)
                .where(_DELIVERIES.c.id.in_(ids), _DELIVERIES.c.status == "pending")
                .values(
                    status="delivered",
                    attempts=_DELIVERIES.c.attempts + 1,
                    last_attempt_at=now,
                    last_status_code=code,
                    last_error="",
                    next_attempt_at=now,
                    delivered_at=now,
                )
            )
        if tried:
            connection.execute(RECORD_ATTEMPT, tried)
        if unsent:
            connection.execute(RECORD_UNSENT, unsent)
        if recovered:  # its receiver answers again: what waited for a retry goes now
            connection.execute(
                sa.update(_DELIVERIES)
                .where(
                    _DELIVERIES.c.subscription_id.in_(sorted(recovered)),
                    _DELIVERIES.c.status == "pending",
                    _DELIVERIES.c.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
            )
        self.commit()


def _summary(numbered: int, fanned: int, outcomes: list[Outcome]) -> dict[str, int]:
    sent = [o for o in outcomes if o.attempt is not None]
    delivered = sum(1 for o in sent if not o.error)
    return {"numbered": numbered, "fanned_out": fanned, "delivered": delivered,
            "failed_attempts": len(sent) - delivered}  # fmt: skip


def _add(totals: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        totals[key] += value


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
