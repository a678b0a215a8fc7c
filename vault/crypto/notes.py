"""Staff's free text kept at rest (an access request's justification, a legal hold's reasons):
staff may write personal data there, so it is encrypted with AES-256-GCM under a key derived
from the master key (the same for every master-key version, like the blind-index key), a random
96-bit nonce, and associated data naming the row and column it belongs to, so that a
ciphertext copied to another row or column does not open."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.crypto.envelope import NONCE_BYTES
from vault.errors import VaultError

NOTES_KEY_LABEL = "vault/staff-notes/v1"
_AD = b"vault/staff-note/v1|"


class NoteUnreadable(VaultError, code="decryption_failed", title="Decryption Failed"):
    """A sealed note that does not open: tampered, moved, or under another key. Names where
    it belongs, never its text."""

    def __init__(self, where: str) -> None:
        super().__init__(f"cannot decrypt the note {where}")


class NoteCipher:
    """Seals and opens notes under one key (``NOTES_KEY_LABEL`` derived from the master key)."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, where: str, text: str) -> bytes:
        """The ciphertext of ``text`` for the place ``where`` (``table:row id:column``)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, text.encode(), _AD + where.encode())

    def open(self, where: str, blob: bytes) -> str:
        """The text sealed for ``where``; raises ``NoteUnreadable``."""
        try:
            plain = self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _AD + where.encode())
        except (InvalidTag, ValueError):
            raise NoteUnreadable(where) from None
        return plain.decode()
