"""Bearer tokens for API clients: ``vault_<key id>_<secret>``.

The secret carries 256 random bits; only its SHA-256 is stored and it is compared in constant
time. The key id finds the row, so lookup never depends on the secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets

TOKEN_PREFIX = "vault"  # noqa: S105  (the visible prefix, not a secret)
_DUMMY_DIGEST = hashlib.sha256(b"no such client").hexdigest()


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    key_id: str
    secret: str
    secret_hash: str

    @property
    def value(self) -> str:
        return f"{TOKEN_PREFIX}_{self.key_id}_{self.secret}"


def issue_token() -> IssuedToken:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return IssuedToken(key_id=key_id, secret=secret, secret_hash=hash_secret(secret))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(value: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = value.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    key_id, secret = parts[1], parts[2]
    if len(key_id) != 16 or not all(c in "0123456789abcdef" for c in key_id):
        return None
    if not 32 <= len(secret) <= 64:
        return None
    return key_id, secret


def secret_matches(stored_hash: str | None, secret: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(stored_hash or _DUMMY_DIGEST, hash_secret(secret)) and bool(
        stored_hash
    )
