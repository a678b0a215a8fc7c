"""Webhook attempts: a body signed as Standard Webhooks ask (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``) and POSTed with aiohttp, on an event loop of
the sender's own thread, over kept-alive connections, with connect and read timeouts, no
redirects followed, and at most ``MAX_ANSWER_BYTES`` of an answer read, so that a slow or
broken receiver costs bounded time and memory. What happened is an ``Outcome``: a status
code and a short error code, never a body.

Threads hand attempts over with ``submit`` and get a ``concurrent.futures.Future``; one loop
carries many attempts at once for a fraction of what a thread per attempt costs (measured
in docs/DECISIONS.md §13). A receiver's name is checked where it is resolved: a name that
has come to point at a link-local or metadata address is refused at the connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import functools
import ipaddress
import random
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from standardwebhooks.webhooks import Webhook

from vault.events.subscriptions import METADATA_HOSTS, refused_address

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


class AddressRefused(OSError):
    """A receiver's name resolves to an address webhooks may not go to."""


class _GuardedResolver(AbstractResolver):
    """The system's resolver, refusing names that lead to link-local, multicast, unspecified
    or cloud metadata addresses."""

    def __init__(self) -> None:
        self.inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.rstrip(".").lower() in METADATA_HOSTS:
            raise AddressRefused(host)
        found = await self.inner.resolve(host, port, family)
        if any(refused_address(ipaddress.ip_address(r["host"].split("%")[0])) for r in found):
            raise AddressRefused(host)
        return found

    async def close(self) -> None:
        await self.inner.close()


class Sender:
    """Sends attempts from any thread (``submit``, ``send``) on an event loop of its own;
    ``close`` (or the sender's collection) stops it."""

    def __init__(self, *, connect_timeout: float, timeout: float, allow_link_local: bool,
                 connections_per_host: int = 16) -> None:  # fmt: skip
        self.allow_link_local = allow_link_local
        self._signers: dict[str, Webhook] = {}
        self.timeout = aiohttp.ClientTimeout(
            total=connect_timeout + timeout, sock_connect=connect_timeout, sock_read=timeout
        )
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_run, args=(self.loop,), name="vault-webhooks",
                                  daemon=True)  # fmt: skip
        thread.start()
        self.session: aiohttp.ClientSession = asyncio.run_coroutine_threadsafe(
            self._open(connections_per_host), self.loop
        ).result()
        self._closer = weakref.finalize(self, _shut, self.loop, thread, self.session)

    async def _open(self, per_host: int) -> aiohttp.ClientSession:
        resolver = None if self.allow_link_local else _GuardedResolver()
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=per_host, resolver=resolver)
        return aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                     headers={"user-agent": USER_AGENT})  # fmt: skip

    def submit(self, attempt: Attempt) -> concurrent.futures.Future[Outcome]:
        """Start ``attempt``; its future gives its ``Outcome`` (with the attempt)."""
        return self.submit_many([attempt])[0]

    def submit_many(self, attempts: list[Attempt]) -> list[concurrent.futures.Future[Outcome]]:
        """Start ``attempts`` (handed to the loop at once: one wake-up, not one each); a
        future for each."""
        futures: list[concurrent.futures.Future[Outcome]] = [
            concurrent.futures.Future() for _ in attempts
        ]

        def start() -> None:
            for attempt, future in zip(attempts, futures, strict=True):
                task = self.loop.create_task(self.attempt(attempt))
                task.add_done_callback(functools.partial(_settle, future))

        self.loop.call_soon_threadsafe(start)
        return futures

    def send(self, attempt: Attempt) -> Outcome:
        """One attempt, waited for."""
        return self.submit(attempt).result()

    def close(self) -> None:
        self._closer()

    def headers(self, attempt: Attempt, now: dt.datetime) -> dict[str, str]:
        signer = self._signers.get(attempt.secret)
        if signer is None:  # (the secret decoded once, not per attempt)
            signer = self._signers[attempt.secret] = Webhook(attempt.secret)
        signature = signer.sign(attempt.event_id, now, attempt.body.decode())
        return {
            "content-type": "application/json",
            "webhook-id": attempt.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }

    async def attempt(self, attempt: Attempt) -> Outcome:
        """One attempt, signed with the time it is made (the wall clock: receivers refuse a
        timestamp minutes away from theirs). Never raises for what the receiver does."""
        found = await self._post(attempt)
        return dataclasses.replace(found, attempt=attempt)

    async def _post(self, attempt: Attempt) -> Outcome:
        if not self.allow_link_local and _refused_literal(attempt.url):
            return Outcome(attempt.delivery_id, None, "address_refused")
        now = dt.datetime.now(dt.UTC)
        try:
            async with self.session.post(attempt.url, data=attempt.body,
                                         headers=self.headers(attempt, now),
                                         allow_redirects=False) as response:  # fmt: skip
                # an answer's body is not kept; bounded all the same (an unread rest is not
                # drained: that connection is closed)
                await response.content.read(MAX_ANSWER_BYTES)
                status = response.status
        except TimeoutError:
            return Outcome(attempt.delivery_id, None, "timeout")
        except aiohttp.ClientError as exc:
            return Outcome(attempt.delivery_id, None, _connection_error(exc))
        if 200 <= status < 300:
            return Outcome(attempt.delivery_id, status, "")
        kind = "redirect" if 300 <= status < 400 else "http_error"
        return Outcome(attempt.delivery_id, status, kind)


def _refused_literal(url: str) -> bool:
    """Whether the URL's host is itself (not a name for) a refused address."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host in METADATA_HOSTS:
        return True
    try:
        return refused_address(ipaddress.ip_address(host))
    except ValueError:
        return False


def _connection_error(exc: Exception) -> str:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "address_refused" if isinstance(exc.os_error, AddressRefused) else (
            "name_not_resolved")  # fmt: skip
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "tls_error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection_refused"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "timeout"
    return "connection_error"


def _settle(future: concurrent.futures.Future[Outcome], task: asyncio.Task[Outcome]) -> None:
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())


def _run(loop: asyncio.AbstractEventLoop) -> None:
    """The sender's thread: its loop until stopped, then closed."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _shut(loop: asyncio.AbstractEventLoop, thread: threading.Thread, session: Any) -> None:
    """Close the session and stop the loop; waits for it unless called on the loop's own
    thread (a sender collected there, when its last attempt ends)."""

    async def finish() -> None:
        try:
            await session.close()
        finally:
            loop.stop()

    if loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(lambda: loop.create_task(finish()))
    except RuntimeError:  # closed meanwhile
        return
    if threading.current_thread() is not thread:
        thread.join(timeout=10)
