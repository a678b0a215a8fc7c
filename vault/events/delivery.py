"""The relay: numbers committed events, fans them out to subscriptions, and delivers them as
Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

At least once: a delivery is marked delivered only after its receiver answered 2xx, in a
transaction of its own after the call; a relay killed in between leaves it pending, and the
next round sends it again (a receiver deduplicates by ``webhook-id``, the event's id). In
order per customer: a delivery waits while an earlier one for the same customer and
subscription is pending. Anything but a 2xx (a timeout, a refused connection, a redirect, a
5xx) is retried with exponential backoff and jitter until the retry window has passed, then
marked failed. Deliveries go out on a thread pool, at most a few per subscription in a round,
with connect and read timeouts and at most ``MAX_ANSWER_BYTES`` of an answer read, so a slow
or broken receiver costs bounded time and memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
import urllib3
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from vault.events.audience import Audience
from vault.events.models import Delivery, Event, Subscription
from vault.events.outbox import number_committed
from vault.events.subscriptions import receiver_allowed
from vault.logs import get_logger

log = get_logger("vault.events")

MAX_ANSWER_BYTES = 64 * 1024
FAN_OUT_BATCH = 2_000
PER_SUBSCRIPTION = 50  # deliveries per subscription and round
FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 3600.0
USER_AGENT = "Vault-Webhooks/1"


def retry_delay(attempts: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling from
    ``FIRST_RETRY_SECONDS`` up to ``LONGEST_RETRY_SECONDS``, with jitter (half to all of it)."""
    delay = min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LONGEST_RETRY_SECONDS)
    return float(delay * (0.5 + rng() / 2))


@dataclasses.dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status_code: int | None  # None: no answer
    error: str  # "" when delivered; a short code otherwise (never a body)


@dataclasses.dataclass(frozen=True)
class Attempt:
    delivery_id: int
    url: str
    event_id: str
    body: bytes
    secret: str


class Sender:
    """POSTs signed bodies over one pool of connections (no redirects followed, no retries:
    the relay retries)."""

    def __init__(self, *, connect_timeout: float, timeout: float, allow_link_local: bool,
                 concurrency: int) -> None:  # fmt: skip
        self.allow_link_local = allow_link_local
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=timeout)
        self.pool = urllib3.PoolManager(num_pools=64, maxsize=concurrency, retries=False,
                                        block=False)  # fmt: skip

    def headers(self, attempt: Attempt, now: dt.datetime) -> dict[str, str]:
        signature = Webhook(attempt.secret).sign(attempt.event_id, now, attempt.body)
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": attempt.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }

    def send(self, attempt: Attempt) -> Outcome:
        """One attempt, signed with the time it is made (the wall clock: receivers refuse a
        timestamp minutes away from theirs)."""
        now = dt.datetime.now(dt.UTC)
        parts = urlsplit(attempt.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not receiver_allowed(parts.hostname or "", port, allow_link_local=self.allow_link_local):
            return Outcome(attempt.delivery_id, None, "address_refused")
        try:
            response = self.pool.request(
                "POST", attempt.url, body=attempt.body, headers=self.headers(attempt, now),
                timeout=self.timeout, redirect=False, preload_content=False,
            )  # fmt: skip
        except urllib3.exceptions.TimeoutError:
            return Outcome(attempt.delivery_id, None, "timeout")
        except urllib3.exceptions.HTTPError as exc:
            return Outcome(attempt.delivery_id, None, _connection_error(exc))
        try:
            response.read(MAX_ANSWER_BYTES)  # an answer's body is not kept; bounded all the same
        except urllib3.exceptions.HTTPError:
            pass
        finally:
            response.close()  # an unread rest is not drained: the connection goes
        status = response.status
        if 200 <= status < 300:
            return Outcome(attempt.delivery_id, status, "")
        kind = "redirect" if 300 <= status < 400 else "http_error"
        return Outcome(attempt.delivery_id, status, kind)


def _connection_error(exc: Exception) -> str:
    text = type(getattr(exc, "reason", None) or exc).__name__
    if "NewConnection" in text or "ConnectionRefused" in text:
        return "connection_refused"
    if "NameResolution" in text:
        return "name_not_resolved"
    if "SSL" in text:
        return "tls_error"
    return "connection_error"


@dataclasses.dataclass
class Relay:
    """One relay over a session: ``run_once`` numbers, fans out and delivers, committing
    between the steps (``commit``)."""

    session: Session
    audience_of: Callable[[str], Audience]  # API client id -> what it may hear of
    secret_of: Callable[[Subscription], str]
    sender: Sender
    commit: Callable[[], None]
    clock: Callable[[], dt.datetime]
    retry_window: dt.timedelta = dt.timedelta(hours=24)
    concurrency: int = 16

    def run_once(self) -> dict[str, int]:
        numbered = number_committed(self.session, now=self.clock())
        self.commit()
        fanned = self.fan_out()
        self.commit()
        outcomes = self.deliver_due()
        delivered = sum(1 for o in outcomes if not o.error)
        return {"numbered": numbered, "fanned_out": fanned, "delivered": delivered,
                "failed_attempts": len(outcomes) - delivered}  # fmt: skip

    # --- fan-out ------------------------------------------------------------------------------

    def fan_out(self) -> int:
        """Queue, for every subscription, the numbered events since it last looked that it
        may hear of; returns how many deliveries were queued."""
        top = self.session.scalar(sa.select(sa.func.max(Event.position))) or 0
        queued = 0
        for subscription in self.session.scalars(sa.select(Subscription)).all():
            if subscription.fanned_out_to >= top:
                continue
            audience = self.audience_of(subscription.client_id)
            types = [t for t in subscription.event_types.split(",") if t]
            start = subscription.fanned_out_to
            while start < top:
                end = min(start + FAN_OUT_BATCH, top)
                queued += self._fan_out_range(subscription, audience, types, start, end)
                start = end
            subscription.fanned_out_to = top
        self.session.flush()
        return queued

    def _fan_out_range(self, subscription: Subscription, audience: Audience, types: list[str],
                       start: int, end: int) -> int:  # fmt: skip
        events = self.session.scalars(
            sa.select(Event)
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

    def due(self, limit: int = 1_000) -> list[tuple[Delivery, Event, Subscription]]:
        """Deliveries to attempt now: pending, due, of an active subscription, with no earlier
        pending delivery for the same customer and subscription."""
        now = self.clock()
        earlier = sa.orm.aliased(Delivery)
        blocked = (
            sa.select(earlier.id)
            .where(
                earlier.subscription_id == Delivery.subscription_id,
                earlier.customer_id == Delivery.customer_id,
                earlier.status == "pending",
                earlier.position < Delivery.position,
            )
            .exists()
        )
        rows = self.session.execute(
            sa.select(Delivery, Event, Subscription)
            .join(Event, Event.seq == Delivery.event_seq)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(
                Delivery.status == "pending",
                Delivery.next_attempt_at <= now,
                Subscription.status == "active",
                ~blocked,
            )
            .order_by(Delivery.position)
            .limit(limit)
        ).all()
        per_subscription: dict[str, int] = {}
        chosen = []
        for delivery, event, subscription in rows:
            count = per_subscription.get(subscription.id, 0)
            if count < PER_SUBSCRIPTION:
                per_subscription[subscription.id] = count + 1
                chosen.append((delivery, event, subscription))
        return chosen

    def deliver_due(self) -> list[Outcome]:
        """Attempt every due delivery once; record the outcomes and commit."""
        work = self.due()
        if not work:
            return []
        audiences: dict[str, Audience] = {}
        secrets: dict[str, str] = {}
        attempts: list[Attempt] = []
        unseen: list[Outcome] = []
        for delivery, event, subscription in work:
            audience = audiences.get(subscription.client_id)
            if audience is None:
                audience = audiences[subscription.client_id] = self.audience_of(
                    subscription.client_id
                )
            if subscription.id not in secrets:
                secrets[subscription.id] = self.secret_of(subscription)
            body = audience.body(event)
            if body is None:  # its client may no longer read any field the event names
                unseen.append(Outcome(delivery.id, None, "not_visible"))
                continue
            attempts.append(
                Attempt(
                    delivery.id, subscription.url, event.id, _encode(body), secrets[subscription.id]
                )
            )
        # The reads above must not hold a transaction open across the calls.
        self.commit()
        outcomes: list[Outcome] = []
        if attempts:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(attempts)),
                                    thread_name_prefix="vault-webhooks") as pool:  # fmt: skip
                outcomes = list(pool.map(self.sender.send, attempts))
        self._record(outcomes, unseen)
        self.commit()
        return outcomes

    def _record(self, outcomes: Iterable[Outcome], unseen: Iterable[Outcome] = ()) -> None:
        now = self.clock()
        outcomes, unseen = list(outcomes), list(unseen)
        ids = [o.delivery_id for o in [*outcomes, *unseen]]
        found = {
            d.id: d for d in self.session.scalars(sa.select(Delivery).where(Delivery.id.in_(ids)))
        }
        for outcome in unseen:
            delivery = found.get(outcome.delivery_id)
            if delivery is not None and delivery.status == "pending":
                delivery.status, delivery.last_error = "failed", outcome.error
        for outcome in outcomes:
            delivery = found.get(outcome.delivery_id)
            if delivery is None or delivery.status != "pending":
                continue  # deleted with its subscription meanwhile
            delivery.attempts += 1
            delivery.last_attempt_at = now
            delivery.last_status_code = outcome.status_code
            delivery.last_error = outcome.error
            if not outcome.error:
                delivery.status, delivery.delivered_at = "delivered", now
            elif now - delivery.created_at >= self.retry_window:
                delivery.status = "failed"
                log.warning("webhook.failed", delivery_id=delivery.id,
                            subscription_id=delivery.subscription_id, error=outcome.error,
                            attempts=delivery.attempts)  # fmt: skip
            else:
                delivery.next_attempt_at = now + dt.timedelta(
                    seconds=retry_delay(delivery.attempts)
                )
        self.session.flush()


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
