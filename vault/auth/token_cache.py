"""The principals of bearer tokens, kept per process between requests.

Authenticating a token from the database loads the client, its role, the role's purposes and
the client's purpose limit (four ORM loads); a consumer system sends the same token with
every request. So each process keeps, per token, the principal it became, the client's expiry
and its last recorded use, under the change stamps of API clients and of policies as the
request read them (one query every request makes anyway). Revoking a client and changing a
role's purposes replace those stamps in the change's own transaction, so the next request in
every process misses its entry and authenticates from the database again.

Entries are found by the SHA-256 of the whole token: a token whose secret differs by one
character is another key, and misses, and meets the constant-time check of
``authenticate_token``. The table holds at most ``size`` tokens, the least recently used
leaving first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
from collections import OrderedDict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.auth.models import ApiClient
from vault.auth.principal import Principal
from vault.auth.service import (
    LAST_USED_RESOLUTION,
    TokenRefused,
    authenticate_token,
    principal_for_client,
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    stamps: tuple[int, int]


class TokenPrincipals:
    """Principals by token, valid while the stamps they were made under hold."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()  # gthread workers share one table

    def principal(
        self, session: Session, token: str, *, now: dt.datetime, stamps: tuple[int, int]
    ) -> Principal:
        """The principal of ``token``; raises ``TokenRefused``. ``stamps`` are this request's
        change stamps of API clients and of policies. A token's last use is written (in the
        caller's transaction) at most once per ``LAST_USED_RESOLUTION`` per process."""
        key = hashlib.sha256(token.encode()).digest()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None or entry.stamps != stamps:
            client = authenticate_token(session, token, now=now)
            principal = principal_for_client(client)
            self._keep(key, _Entry(principal, client.expires_at, client.last_used_at, stamps))
            return principal
        if entry.expires_at is not None and entry.expires_at <= now:
            self._drop(key)
            raise TokenRefused("expired")
        if entry.last_used_at is None or now - entry.last_used_at >= LAST_USED_RESOLUTION:
            session.execute(
                sa.update(ApiClient)
                .where(ApiClient.id == entry.principal.id)
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            self._keep(key, dataclasses.replace(entry, last_used_at=now))
        return entry.principal

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _keep(self, key: bytes, entry: _Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def _drop(self, key: bytes) -> None:
        with self._lock:
            self._entries.pop(key, None)
