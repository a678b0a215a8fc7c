"""Master-key rotation: a new master-key version, then every data key re-wrapped under it in
batches, each batch committed on its own. Values are never touched.

Resumable by construction: a run picks up every data key not yet under the current version,
so a rerun after a crash finishes the job instead of starting another rotation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vault.crypto.envelope import KeyRing, WrappedKey
from vault.crypto.keys import KeyProvider, RotatableKeyProvider
from vault.errors import ConfigurationError


class WrappedKeyStore(Protocol):
    """Where the wrapped data keys are kept (the customers package keeps them in its rows):
    rotation reads and rewrites them through this, knowing no table."""

    def count_by_version(self) -> tuple[dict[int, int], int]:
        """Data keys per master-key version, and how many were destroyed (shredded)."""
        ...

    def not_under(
        self, version: int, *, after: Any, limit: int
    ) -> Sequence[tuple[str, WrappedKey, Any]]:
        """Up to ``limit`` data keys not wrapped under ``version``, in a stable order, each
        as (owner id, wrapped key, position); the next batch starts ``after`` a position."""
        ...

    def rewrite(self, version: int, rewrapped: Sequence[tuple[str, bytes]]) -> None:
        """Store these (owner id, wrapped key) pairs as wrapped under ``version``."""
        ...

    def commit(self) -> None: ...


@dataclasses.dataclass
class KeyStatus:
    current_version: int
    versions: list[int]
    data_keys_by_version: dict[int, int]
    destroyed: int

    @property
    def pending(self) -> int:
        """Data keys still wrapped under an older master key."""
        return sum(n for v, n in self.data_keys_by_version.items() if v != self.current_version)


@dataclasses.dataclass
class RotationReport:
    version: int
    started_new_version: bool
    rewrapped: int


def key_status(keys: WrappedKeyStore, provider: KeyProvider) -> KeyStatus:
    counts, destroyed = keys.count_by_version()
    return KeyStatus(
        current_version=provider.current_version(),
        versions=provider.versions(),
        data_keys_by_version=counts,
        destroyed=destroyed,
    )


def rotate_master_key(
    keys: WrappedKeyStore,
    provider: KeyProvider,
    *,
    batch_size: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> RotationReport:
    """Re-wrap every data key under the current master key, after creating a new version
    unless an earlier rotation is unfinished. Commits after each batch; ``on_batch`` hears how
    many keys each batch re-wrapped (a progress bar)."""
    status = key_status(keys, provider)
    started = False
    if status.pending == 0:
        if not hasattr(provider, "add_version"):
            raise ConfigurationError(
                "this key provider cannot create versions: publish a new key document instead"
            )
        rotatable: RotatableKeyProvider = provider  # type: ignore[assignment]
        rotatable.add_version()
        started = True
    target = provider.current_version()
    ring = KeyRing(provider)
    total = 0
    position: Any = None
    while True:
        batch = keys.not_under(target, after=position, limit=batch_size)
        if not batch:
            break
        rewrapped = [(owner, ring.rewrap(owner, wrapped, target).wrapped)
                     for owner, wrapped, _position in batch]  # fmt: skip
        keys.rewrite(target, rewrapped)
        keys.commit()
        total += len(rewrapped)
        position = batch[-1][2]
        if on_batch is not None:
            on_batch(len(rewrapped))
    return RotationReport(version=target, started_new_version=started, rewrapped=total)
