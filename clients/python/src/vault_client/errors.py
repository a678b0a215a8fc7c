"""Vault's errors (``application/problem+json``, RFC 9457) as exceptions, one class per
status, each with the problem's ``code``, ``detail``, ``request_id`` and, for a validation
failure, ``errors`` (field -> messages)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class VaultError(Exception):
    """An error answer of the vault. ``status`` is its HTTP status, ``code`` its stable code
    (``not_found``, ``purpose_required``, ...), ``body`` the whole problem."""

    status_class: ClassVar[int | None] = None

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.body = dict(body)
        self.code = str(body.get("code") or f"http_{status}")
        self.title = str(body.get("title") or "")
        self.detail = str(body.get("detail") or self.title or f"HTTP {status}")
        self.request_id = body.get("request_id")
        self.errors: dict[str, list[str]] = dict(body.get("errors") or {})
        super().__init__(f"{status} {self.code}: {self.detail}")


class BadRequest(VaultError):
    status_class = 400


class Unauthorized(VaultError):
    status_class = 401


class Forbidden(VaultError):
    status_class = 403


class NotFound(VaultError):
    status_class = 404


class Conflict(VaultError):
    """A conflict; for a duplicate customer, ``existing_id`` when the caller may see it."""

    status_class = 409

    @property
    def existing_id(self) -> str | None:
        found = self.body.get("existing_id")
        return str(found) if found else None


class PreconditionFailed(VaultError):
    """``If-Match`` named a version the record is no longer at."""

    status_class = 412


class ValidationFailed(VaultError):
    """Invalid input; ``errors`` maps each field to its messages."""

    status_class = 422


class RateLimited(VaultError):
    status_class = 429


class ServerError(VaultError):
    """A 5xx answer (``Unavailable`` for a 503)."""


class Unavailable(ServerError):
    status_class = 503


_KNOWN = (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
          ValidationFailed, RateLimited, Unavailable)  # fmt: skip
_BY_STATUS: dict[int, type[VaultError]] = {
    cls.status_class: cls for cls in _KNOWN if cls.status_class is not None
}


def error_for(status: int, body: Mapping[str, Any]) -> VaultError:
    """The exception of an error answer ``status`` with the problem ``body``."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else VaultError)
    return cls(status, body)


class WebhookInvalid(ValueError):
    """A webhook delivery whose signature or time stamp does not verify."""
