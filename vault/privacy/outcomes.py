"""What the privacy desk answers besides its requests: its refusals a customer meets (a wrong
code, a locked request, a spent link), a message to send once the work has committed, and
the result of a code's check."""

from __future__ import annotations

import dataclasses
import hashlib

from vault.errors import Conflict, VaultError
from vault.governance.models import PrivacyRequest


class InvalidCode(VaultError, status=422, code="invalid_code", title="Invalid Code"): ...


class RequestLocked(Conflict, code="request_locked", title="Request Locked"): ...


class LinkGone(VaultError, status=410, code="link_gone", title="Gone"): ...


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send once the request's transaction has committed."""

    to: str
    subject: str
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class Verification:
    request: PrivacyRequest
    accepted: bool
    download_url: str | None = None
    # why a code was refused: wrong_code, expired_code, locked_now (the fifth), locked
    refusal: str = ""


def digest_token(token: str) -> bytes:
    """The stored form of a download token (256 random bits: a plain hash suffices)."""
    return hashlib.sha256(token.encode()).digest()
