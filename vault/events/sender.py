"""One webhook attempt: a body signed as Standard Webhooks ask (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``) and POSTed over a pool of kept-alive
connections, with connect and read timeouts, no redirects followed, and at most
``MAX_ANSWER_BYTES`` of an answer read, so that a slow or broken receiver costs bounded time
and memory. What happened is an ``Outcome``: a status code and a short error code, never a
body."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable
from urllib.parse import urlsplit

import urllib3
from standardwebhooks.webhooks import Webhook

from vault.events.subscriptions import receiver_allowed

MAX_ANSWER_BYTES = 64 * 1024
FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 3600.0
USER_AGENT = "Vault-Webhooks/1"
# Errors that say the receiver is not there at all (rather than refusing one event).
UNREACHABLE = frozenset({"timeout", "connection_refused", "connection_error", "name_not_resolved",
                         "tls_error", "address_refused"})  # fmt: skip
UNAVAILABLE = frozenset({502, 503, 504})


def retry_delay(attempts: int, *, first: float = FIRST_RETRY_SECONDS,
                rng: Callable[[], float] = random.random) -> float:  # fmt: skip
    """Seconds before the next attempt after ``attempts`` failed ones: doubling from
    ``first`` up to ``LONGEST_RETRY_SECONDS``, with jitter (half to all of it)."""
    delay = min(first * 2 ** max(attempts - 1, 0), LONGEST_RETRY_SECONDS)
    return float(delay * (0.5 + rng() / 2))


@dataclasses.dataclass(frozen=True)
class Attempt:
    delivery_id: int
    subscription_id: str
    url: str
    event_id: str
    body: bytes
    secret: str
    attempts: int  # failed attempts before this one
    created_at: dt.datetime  # when the delivery was queued (the retry window runs from it)


@dataclasses.dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status_code: int | None  # None: no answer
    error: str  # "" when delivered; a short code otherwise (never a body)
    attempt: Attempt | None = None  # None: not sent

    @property
    def unreachable(self) -> bool:
        """Whether the receiver itself is away (not there, or saying it is unavailable),
        rather than refusing this one event."""
        return self.error in UNREACHABLE or self.status_code in UNAVAILABLE


class Sender:
    """POSTs signed bodies over one pool of connections (no redirects followed, no retries:
    the relay retries). Safe to call from several threads at once."""

    def __init__(self, *, connect_timeout: float, timeout: float, allow_link_local: bool,
                 connections_per_host: int = 16) -> None:  # fmt: skip
        self.allow_link_local = allow_link_local
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=timeout)
        self.pool = urllib3.PoolManager(num_pools=64, maxsize=connections_per_host,
                                        retries=False, block=False)  # fmt: skip

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
        timestamp minutes away from theirs). Never raises for what the receiver does."""
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
        except urllib3.exceptions.NewConnectionError as exc:  # (a kind of ConnectTimeoutError)
            return Outcome(attempt.delivery_id, None, _connection_error(exc))
        except urllib3.exceptions.TimeoutError:
            return Outcome(attempt.delivery_id, None, "timeout")
        except urllib3.exceptions.HTTPError as exc:
            return Outcome(attempt.delivery_id, None, _connection_error(exc))
        try:
            response.read(MAX_ANSWER_BYTES)  # an answer's body is not kept; bounded all the same
        except urllib3.exceptions.HTTPError:
            pass
        finally:
            if response.length_remaining != 0:  # unread, or of unknown length: not drained,
                response.close()  # that connection goes
            else:
                response.release_conn()  # read to its end: the connection is kept alive
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
