"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PRODUCTION_PROFILE = argon2.profiles.RFC_9106_LOW_MEMORY  # argon2id, t=3, m=64 MiB, p=4

_hasher = argon2.PasswordHasher.from_parameters(PRODUCTION_PROFILE)
# Verified against when the account does not exist, so that an unknown email costs the same.
_DUMMY_HASH = _hasher.hash("an unknown account still pays for one verification")


def use_profile(parameters: argon2.Parameters) -> None:
    """Hash with other argon2 parameters from now on, in this process (the test suite's cheap
    profile; the vault itself never calls this)."""
    global _hasher, _DUMMY_HASH  # noqa: PLW0603  (one process-wide hasher, by design)
    _hasher = argon2.PasswordHasher.from_parameters(parameters)
    _DUMMY_HASH = _hasher.hash("an unknown account still pays for one verification")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
