"""A limit on failures per key (a client address), counted in the rate-limit storage of the
``limits`` library: ``memory://`` counts in this process only, ``redis://`` in one place for
every worker and host, which is what several workers need."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES

from vault.config import Settings
from vault.errors import ConfigurationError


class FailureLimit:
    """Counts failures per key; once a key has had ``limit`` of them in the window, it is
    held back until the window ends."""

    def __init__(
        self,
        limit: str,
        storage_uri: str,
        *,
        namespace: str,
        key_prefix: str = "",
        strategy: str = "fixed-window",
    ) -> None:
        """Raises ``ConfigurationError`` for a limit, storage or strategy it cannot use."""
        try:
            self._item = parse(limit)
        except ValueError as exc:
            raise ConfigurationError(f"{limit!r} is not a rate limit") from exc
        if strategy not in STRATEGIES:
            raise ConfigurationError(f"{strategy!r} is not a rate-limit strategy")
        try:
            storage = storage_from_string(storage_uri)
        except LimitsConfigurationError as exc:
            # the URI may hold a password: name only its scheme
            scheme = storage_uri.partition(":")[0]
            raise ConfigurationError(f"no rate-limit storage for {scheme!r} URIs") from exc
        self._limiter = STRATEGIES[strategy](storage)
        self._identifiers = (key_prefix, namespace) if key_prefix else (namespace,)

    @classmethod
    def for_tokens(cls, settings: Settings) -> FailureLimit:
        """The limit on refused bearer tokens per client address."""
        return cls(
            settings.token_failure_limit,
            settings.ratelimit_storage_uri,
            namespace="token-failures",
            key_prefix=settings.ratelimit_key_prefix,
        )

    def retry_after(self, key: str) -> int | None:
        """None while ``key`` is under the limit; otherwise how many seconds (at least 1)
        until its window ends. Raises the storage's errors (an unreachable Redis)."""
        if self._limiter.test(self._item, *self._identifiers, key):
            return None
        reset, _remaining = self._limiter.get_window_stats(self._item, *self._identifiers, key)
        return max(1, math.ceil(reset - time.time()))

    def record_failure(self, key: str) -> None:
        """Count one failure of ``key``. Raises the storage's errors."""
        self._limiter.hit(self._item, *self._identifiers, key)
