"""The canonical text of an audit event and the MAC it carries from the moment it is written.

An event's *content* is its time and every column a writer sets, in a fixed order, separated
by the unit separator (U+001F). The writer renders it in Python; verification has the
database render the same text (``content_sql``), which is the fast way to read millions of
rows. Both must agree byte for byte: times are UTC with microseconds, and no value may hold
a control character (``clean`` replaces them), so that no separator can move between
columns.

The MAC is HMAC-SHA256 under the audit key over a fresh 16-byte nonce and the content; the
column holds the nonce and the tag (48 bytes). The nonce makes two events with the same
content (same second, same request) distinct, so an exact copy of an event is recognisable
as a copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

CONTENT_COLUMNS = (
    "actor_kind", "actor_id", "purpose", "action", "customer_ids", "field_names",
    "outcome", "reason", "request_id", "client_address",
)  # fmt: skip
NONCE_BYTES = 16
MAC_BYTES = NONCE_BYTES + 32
_MAC_TAG = b"vault-audit-event/v1\x00"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

# The content as the database renders it. On SQLite one printf() builds the text (every
# column is NOT NULL, and the time is stored as the text SQLAlchemy wrote: UTC, microseconds).
_SQLITE_CONTENT = (
    "printf('"
    + "\x1f".join(["%s"] * (1 + len(CONTENT_COLUMNS)))
    + "', occurred_at, "
    + ", ".join(CONTENT_COLUMNS)
    + ")"
)
_POSTGRES_CONTENT = " || chr(31) || ".join(
    ["to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')", *CONTENT_COLUMNS]
)


def content_sql(dialect: str) -> str:
    """The SQL expression that renders an ``audit_events`` row's content on ``dialect``."""
    return _SQLITE_CONTENT if dialect == "sqlite" else _POSTGRES_CONTENT


def clean(text: str) -> str:
    """``text`` with every control character replaced by ``?`` (an audit value is an id, a
    name or a code: a control character in one can only be an attempt to move a separator)."""
    return _CONTROL.sub("?", text)


def render_time(value: dt.datetime) -> str:
    """A time as the database renders it in the content: UTC, with microseconds."""
    return value.astimezone(dt.UTC).strftime(_TIME_FORMAT)


def content_time(content: str) -> dt.datetime:
    """When the event whose content this is occurred (its first column)."""
    return dt.datetime.strptime(content[:26], _TIME_FORMAT).replace(tzinfo=dt.UTC)


def content_text(values: Mapping[str, Any]) -> str:
    """The content of an event about to be written (``occurred_at`` and the content columns,
    already cleaned and cut to their lengths)."""
    return "\x1f".join([render_time(values["occurred_at"]), *(values[c] for c in CONTENT_COLUMNS)])


def event_mac(key: bytes, content: str, nonce: bytes | None = None) -> bytes:
    """The MAC column of an event: a nonce (fresh unless given) and the tag over it and the
    content."""
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    tag = hmac.new(key, _MAC_TAG + nonce + content.encode(), hashlib.sha256).digest()
    return nonce + tag


def mac_holds(key: bytes, content: str, mac: bytes | None) -> bool:
    """Whether ``mac`` is the MAC of ``content`` under ``key`` (constant time)."""
    if mac is None or len(mac) != MAC_BYTES:
        return False
    return hmac.compare_digest(event_mac(key, content, mac[:NONCE_BYTES]), mac)
