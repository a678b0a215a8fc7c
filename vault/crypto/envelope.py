"""Envelope encryption: one random data key per customer, wrapped with AES-256-GCM under the
current master-key version; every field value encrypted with AES-256-GCM under its
customer's data key, a random 96-bit nonce and associated data binding
``(customer id, field name, data-key version)``.

A ``KeyRing`` lives for one request or command: it caches master-key ciphers and unwrapped
data keys for that unit of work only, and ``forget`` drops a customer's key at once (erasure).
"""

from __future__ import annotations

import dataclasses
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.crypto.keys import KeyProvider
from vault.errors import VaultError

NONCE_BYTES = 12
_DEK_AD = b"vault/data-key/v1"


class DecryptionFailed(VaultError, code="decryption_failed", title="Decryption Failed"):
    """A ciphertext that does not open: tampered, moved, or under the wrong key. Names the
    customer and field, never a value."""

    def __init__(self, customer_id: str, field: str) -> None:
        super().__init__(f"cannot decrypt {field!r} of customer {customer_id}")
        self.customer_id = customer_id
        self.field = field


class DataKeyDestroyed(VaultError, status=410, code="data_key_destroyed", title="Gone"):
    """The customer's data key was destroyed (erasure): its values are gone for good."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"the data key of customer {customer_id} was destroyed")
        self.customer_id = customer_id


@dataclasses.dataclass(frozen=True, slots=True)
class WrappedKey:
    wrapped: bytes
    kek_version: int


def _dek_ad(customer_id: str, kek_version: int) -> bytes:
    return b"%s|%s|%d" % (_DEK_AD, customer_id.encode(), kek_version)


class FieldCipher:
    """Encrypts and decrypts one customer's values under its data key."""

    __slots__ = ("_aead", "_prefix", "_suffix", "customer_id", "dek_version")

    def __init__(self, customer_id: str, dek_version: int, data_key: bytes) -> None:
        self.customer_id = customer_id
        self.dek_version = dek_version
        self._aead = AESGCM(data_key)
        self._prefix = f"{customer_id}\x1f".encode()
        self._suffix = b"\x1f%d" % dek_version

    def _ad(self, field: str) -> bytes:
        # customer id, field name and data-key version, separated by a unit separator
        return self._prefix + field.encode() + self._suffix

    def encrypt_many(self, plaintexts: dict[str, bytes]) -> dict[str, bytes]:
        """Ciphertexts of several fields at once, each under its own random nonce."""
        nonces = os.urandom(NONCE_BYTES * len(plaintexts))
        encrypt, prefix, suffix = self._aead.encrypt, self._prefix, self._suffix
        sealed = {}
        for i, (field, plaintext) in enumerate(plaintexts.items()):
            nonce = nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
            sealed[field] = nonce + encrypt(nonce, plaintext, prefix + field.encode() + suffix)
        return sealed

    def decrypt_many(self, blobs: dict[str, bytes]) -> dict[str, bytes]:
        """Plaintexts of several fields at once (the read path); same checks as ``decrypt``."""
        decrypt, prefix, suffix = self._aead.decrypt, self._prefix, self._suffix
        opened = {}
        for field, blob in blobs.items():
            try:
                opened[field] = decrypt(
                    blob[:NONCE_BYTES], blob[NONCE_BYTES:], prefix + field.encode() + suffix
                )
            except (InvalidTag, ValueError):
                raise DecryptionFailed(self.customer_id, field) from None
        return opened

    def encrypt(self, field: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._ad(field))

    def decrypt(self, field: str, blob: bytes) -> bytes:
        """The plaintext of ``blob``; raises ``DecryptionFailed`` naming customer and field."""
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], self._ad(field))
        except (InvalidTag, ValueError):
            raise DecryptionFailed(self.customer_id, field) from None


class KeyRing:
    """Master-key access and a per-unit-of-work cache of customers' field ciphers."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider
        self._keks: dict[int, AESGCM] = {}
        self._ciphers: dict[str, FieldCipher] = {}

    def _kek(self, version: int) -> AESGCM:
        kek = self._keks.get(version)
        if kek is None:
            kek = self._keks[version] = AESGCM(self.provider.master_key(version))
        return kek

    def new_data_key(
        self, customer_id: str, dek_version: int = 1
    ) -> tuple[WrappedKey, FieldCipher]:
        """A fresh data key for ``customer_id``, wrapped under the current master key."""
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped = self.wrap(customer_id, data_key, self.provider.current_version())
        cipher = self._ciphers[customer_id] = FieldCipher(customer_id, dek_version, data_key)
        return wrapped, cipher

    def wrap(self, customer_id: str, data_key: bytes, kek_version: int) -> WrappedKey:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._kek(kek_version).encrypt(nonce, data_key, _dek_ad(customer_id, kek_version))
        return WrappedKey(nonce + sealed, kek_version)

    def unwrap(self, customer_id: str, wrapped: WrappedKey) -> bytes:
        try:
            return self._kek(wrapped.kek_version).decrypt(
                wrapped.wrapped[:NONCE_BYTES],
                wrapped.wrapped[NONCE_BYTES:],
                _dek_ad(customer_id, wrapped.kek_version),
            )
        except (InvalidTag, ValueError):
            raise DecryptionFailed(customer_id, "data key") from None

    def cipher(self, customer_id: str, wrapped: WrappedKey | None, dek_version: int) -> FieldCipher:
        """The field cipher of a customer, unwrapping its data key once per unit of work.
        Raises ``DataKeyDestroyed`` when the key is gone, ``DecryptionFailed`` when it does
        not unwrap."""
        cached = self._ciphers.get(customer_id)
        if cached is not None and cached.dek_version == dek_version:
            return cached
        if wrapped is None:
            raise DataKeyDestroyed(customer_id)
        cipher = self._ciphers[customer_id] = FieldCipher(
            customer_id, dek_version, self.unwrap(customer_id, wrapped)
        )
        return cipher

    def rewrap(self, customer_id: str, wrapped: WrappedKey, kek_version: int) -> WrappedKey:
        """The same data key wrapped under master key ``kek_version``; values are untouched."""
        return self.wrap(customer_id, self.unwrap(customer_id, wrapped), kek_version)

    def forget(self, customer_id: str) -> None:
        """Drop a customer's cached key (after its erasure)."""
        self._ciphers.pop(customer_id, None)

    def derived_key(self, label: str) -> bytes:
        return self.provider.derived_key(label)
