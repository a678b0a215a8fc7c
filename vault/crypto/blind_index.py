"""Blind indexes: HMAC-SHA256 under a key derived for this use only, over a field's
normalised value (lower-cased email, E.164 phone), for exact-match search and uniqueness.
The field name is part of the MAC input, so equal values in two fields do not correlate."""

from __future__ import annotations

import hashlib
import hmac

BLIND_INDEX_LABEL = "vault/blind-index/v1"


class BlindIndex:
    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, field: str, normalised_value: str) -> bytes:
        message = field.encode() + b"\x00" + normalised_value.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()
