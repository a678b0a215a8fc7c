"""Opaque list cursors: the position of a page's last row (a time and an id), signed with an
HMAC under a key derived from the master key, and bound to the list it came from.

A client can only hand back a cursor the vault gave out: a forged, altered or truncated one,
one from another list, or one of the unsigned form older versions gave out is a
``ValidationFailed`` naming ``cursor``, never a query built from what the client wrote.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json

from vault.errors import ValidationFailed

CURSOR_KEY_LABEL = "vault/list-cursor/v1"
_MAC_BYTES = 16  # 128 bits: a forgery is a guess against the key, online, one try a request


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused() -> ValidationFailed:
    return ValidationFailed(errors={"cursor": ["is not a cursor this API returned"]})


class CursorSigner:
    """Signs and checks the cursors of lists named by ``listing`` (``"customers"``, ...)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, listing: str, payload: bytes) -> bytes:
        message = listing.encode() + b"\x00" + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, listing: str, at: dt.datetime, item_id: str) -> str:
        """The cursor after the row (``at``, ``item_id``) of ``listing``. ``at`` must be
        aware (raises ``ValueError`` otherwise)."""
        if at.tzinfo is None:
            raise ValueError("a cursor's time must be aware")
        payload = json.dumps([at.isoformat(), item_id], separators=(",", ":")).encode()
        return f"{_encode(payload)}.{_encode(self._mac(listing, payload))}"

    def decode(self, listing: str, cursor: str) -> tuple[dt.datetime, str]:
        """The (aware time, id) that ``cursor`` of ``listing`` stands after. Raises
        ``ValidationFailed`` naming ``cursor`` for anything this signer did not give out for
        ``listing``."""
        try:
            payload_text, mac_text = cursor.split(".")
            payload, mac = _decode(payload_text), _decode(mac_text)
        except (ValueError, binascii.Error):  # not two parts, not base64, not ASCII
            raise _refused() from None
        if not hmac.compare_digest(mac, self._mac(listing, payload)):
            raise _refused()
        try:
            at_text, item_id = json.loads(payload)
            at = dt.datetime.fromisoformat(at_text)
        except (ValueError, TypeError):
            raise _refused() from None
        # Signed by this key, so written by ``encode``; checked all the same, as a query
        # would be built from it.
        if at.tzinfo is None or not isinstance(item_id, str):
            raise _refused()
        return at, item_id
