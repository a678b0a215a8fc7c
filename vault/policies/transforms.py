"""Transforms that show less than the value: ``mask`` (email ``j***@example.com``, phone last
four digits, anything else its first character), ``redact``, ``year`` (of a date),
``pseudonym`` (a stable keyed hash, for analytics) and ``last4``."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

PSEUDONYM_LABEL = "vault/pseudonym/v1"
REDACTED = "[redacted]"
TRANSFORMS = ("mask", "redact", "year", "pseudonym", "last4")
# When several rules mask a field differently, the one that shows least wins.
STRICTNESS = {"redact": 0, "pseudonym": 1, "mask": 2, "last4": 3, "year": 4}


def _mask(field_type: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_mask("string", v) for v in value]
    text = str(value)
    if field_type == "email" and "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    if field_type == "phone":
        return "***" + text[-4:]
    return text[:1] + "***" if text else text


def _last4(_field_type: str, value: Any) -> Any:
    text = str(value)
    return "***" + text[-4:] if len(text) > 4 else "****"


def _year(_field_type: str, value: Any) -> Any:
    return str(value)[:4]


def _redact(_field_type: str, _value: Any) -> Any:
    return REDACTED


def make_transform(name: str, pseudonym_key: bytes) -> Callable[[str, Any], Any]:
    """The function of transform ``name``: (field type, value) -> shown value."""
    if name == "pseudonym":

        def pseudonym(field_type: str, value: Any) -> Any:
            text = value if isinstance(value, str) else repr(value)
            digest = hmac.new(pseudonym_key, f"{field_type}\x1f{text}".encode(), hashlib.sha256)
            return "psn_" + digest.hexdigest()[:24]

        return pseudonym
    return {"mask": _mask, "redact": _redact, "year": _year, "last4": _last4}[name]
