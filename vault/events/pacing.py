"""How the relay paces its attempts (``vault.events.delivery``): the receivers it leaves
alone for a while (``Holdoff``), the attempts on their way and those that finished
(``Finished``), and the due deliveries waiting to start, by subscription
(``by_subscription``)."""

from __future__ import annotations

import collections
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from vault.events.sender import FIRST_RETRY_SECONDS, Outcome, retry_delay

# Attempts on their way: delivery id -> (its future, its subscription's id).
InFlight = dict[int, tuple[Future[Outcome], str]]
# Due deliveries not yet started: subscription id -> its rows, in the order they were due.
Backlog = dict[str, collections.deque[Any]]


@dataclasses.dataclass
class Holdoff:
    """Subscriptions whose receiver could not be reached, and until when they are left
    alone: doubling, from ``first`` up to ``longest`` seconds, each time the first attempt
    after a pause fails too (attempts that were on their way when it began do not count)."""

    clock: Callable[[], float] = time.monotonic
    first: float = FIRST_RETRY_SECONDS
    longest: float = 60.0
    until: dict[str, float] = dataclasses.field(default_factory=dict)
    failures: dict[str, int] = dataclasses.field(default_factory=dict)

    def holds(self, subscription_id: str) -> bool:
        return self.until.get(subscription_id, 0.0) > self.clock()

    def failed(self, subscription_id: str) -> None:
        if self.holds(subscription_id):
            return
        count = self.failures.get(subscription_id, 0) + 1
        self.failures[subscription_id] = count
        pause = min(retry_delay(count, first=self.first), self.longest)
        self.until[subscription_id] = self.clock() + pause

    def reached(self, subscription_id: str) -> bool:
        """Forget the subscription's failures; returns whether it had any."""
        self.until.pop(subscription_id, None)
        return self.failures.pop(subscription_id, 0) > 0


class Finished:
    """The deliveries whose attempt has finished, told by their futures as they finish (no
    scan of what is on its way, no waiter put on every future)."""

    def __init__(self) -> None:
        self.ids: collections.deque[int] = collections.deque()
        self.event = threading.Event()

    def watch(self, started: InFlight) -> None:
        for delivery_id, (future, _subscription) in started.items():
            future.add_done_callback(functools.partial(self._finished, delivery_id))

    def _finished(self, delivery_id: int, _future: Future[Outcome]) -> None:
        self.ids.append(delivery_id)
        self.event.set()

    def take(self, in_flight: InFlight) -> list[Outcome]:
        """The outcomes finished since the last take, out of ``in_flight``."""
        self.event.clear()  # before taking: one finishing after the take sets it again
        taken: list[Outcome] = []
        while self.ids:
            entry = in_flight.pop(self.ids.popleft(), None)
            if entry is not None:
                taken.append(entry[0].result())
        return taken


def by_subscription(rows: Iterable[Any], away: set[int] | None = None) -> Backlog:
    backlog: Backlog = {}
    for row in rows:
        if away and row.delivery_id in away:
            continue
        queue = backlog.get(row.subscription_id)
        if queue is None:
            queue = backlog[row.subscription_id] = collections.deque()
        queue.append(row)
    return backlog
