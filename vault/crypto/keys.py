"""Master keys behind a ``KeyProvider``: versioned 256-bit key-encryption keys, plus one root
from which the keys that must never rotate (blind index, audit, pseudonyms) are derived.

Two providers: a key file (mode 0600, created by `vault init`) and an environment variable
holding the same document. A KMS or HashiCorp Vault Transit provider would implement the same
protocol.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.config import Settings
from vault.errors import ConfigurationError, VaultError

KEY_FORMAT = "vault-keys/1"
KEY_BYTES = 32


class KeyUnavailable(VaultError, code="key_unavailable", title="Key Unavailable"):
    """A master key version the data needs is not held by the key provider."""


class KeyProvider(Protocol):
    def current_version(self) -> int:
        """The master-key version that wraps new data keys."""
        ...

    def versions(self) -> list[int]:
        """Every master-key version held, oldest first."""
        ...

    def master_key(self, version: int) -> bytes:
        """The 32-byte master key ``version``; raises ``KeyUnavailable``."""
        ...

    def derived_key(self, label: str) -> bytes:
        """A 32-byte key for ``label`` that stays the same across master-key rotations."""
        ...


class RotatableKeyProvider(KeyProvider, Protocol):
    def add_version(self) -> int:
        """Create a new master-key version, make it current and return it."""
        ...


def new_key_document() -> dict[str, Any]:
    return {
        "format": KEY_FORMAT,
        "current": 1,
        "master_keys": {"1": _b64(secrets.token_bytes(KEY_BYTES))},
        "root": _b64(secrets.token_bytes(KEY_BYTES)),
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class _KeyDocument:
    """A parsed key document, validated once."""

    def __init__(self, document: dict[str, Any], source: str) -> None:
        try:
            if document.get("format") != KEY_FORMAT:
                raise ValueError("unknown format")
            self.masters = {
                int(v): base64.b64decode(k, validate=True)
                for v, k in document["master_keys"].items()
            }
            self.root = base64.b64decode(document["root"], validate=True)
            self.current = int(document["current"])
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ConfigurationError(f"the key material in {source} is malformed") from exc
        if self.current not in self.masters:
            raise ConfigurationError(f"the current master key is missing from {source}")
        if any(len(k) != KEY_BYTES for k in [*self.masters.values(), self.root]):
            raise ConfigurationError(f"every key in {source} must be 32 bytes")
        self._derived: dict[str, bytes] = {}

    def master_key(self, version: int) -> bytes:
        try:
            return self.masters[version]
        except KeyError:
            raise KeyUnavailable(f"master key version {version} is not available") from None

    def derived_key(self, label: str) -> bytes:
        if label not in self._derived:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode())
            self._derived[label] = hkdf.derive(self.root)
        return self._derived[label]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": KEY_FORMAT,
                "current": self.current,
                "master_keys": {str(v): _b64(k) for v, k in sorted(self.masters.items())},
                "root": _b64(self.root),
            },
            indent=2,
        )


class _DocumentKeyProvider:
    """Read access to a key document; the subclasses say where it comes from."""

    _doc: _KeyDocument

    def current_version(self) -> int:
        return self._doc.current

    def versions(self) -> list[int]:
        return sorted(self._doc.masters)

    def master_key(self, version: int) -> bytes:
        return self._doc.master_key(version)

    def derived_key(self, label: str) -> bytes:
        return self._doc.derived_key(label)


class FileKeyProvider(_DocumentKeyProvider):
    """Keys in a JSON file readable by the vault's user only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime_ns = -1
        self._reload()

    def _reload(self) -> None:
        """Read the file again when it changed (a rotation in another process)."""
        try:
            mtime_ns = self.path.stat().st_mtime_ns
            if mtime_ns == self._mtime_ns:
                return
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(
                f"the master key file {self.path} does not exist; run `vault init`"
            ) from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"the key material in {self.path} is malformed") from exc
        self._doc = _KeyDocument(document, str(self.path))
        self._mtime_ns = mtime_ns

    def current_version(self) -> int:
        self._reload()
        return self._doc.current

    def master_key(self, version: int) -> bytes:
        if version not in self._doc.masters:
            self._reload()
        return self._doc.master_key(version)

    @classmethod
    def create(cls, path: Path) -> FileKeyProvider:
        """Write a new key file (mode 0600); refuses to overwrite one."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        document = json.dumps(new_key_document(), indent=2)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(document)
        return cls(path)

    def add_version(self) -> int:
        version = max(self._doc.masters) + 1
        self._doc.masters[version] = secrets.token_bytes(KEY_BYTES)
        self._doc.current = version
        # Write the new document beside the old one, then rename: a crash leaves one or the
        # other, never half a file.
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self._doc.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)
        self._mtime_ns = self.path.stat().st_mtime_ns
        return version


class EnvKeyProvider(_DocumentKeyProvider):
    """Keys from an environment variable (``VAULT_MASTER_KEYS``) holding a key document, for
    platforms that inject secrets into the environment. Rotation happens outside: publish a
    document with a new version and restart."""

    def __init__(self, document: str, source: str = "VAULT_MASTER_KEYS") -> None:
        try:
            parsed = json.loads(document)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{source} is not a key document") from exc
        if not isinstance(parsed, dict):
            raise ConfigurationError(f"{source} is not a key document")
        self._doc = _KeyDocument(parsed, source)


def provider_from_settings(settings: Settings) -> KeyProvider:
    """The key provider the settings name: the key file (default) or the environment."""
    if settings.key_provider == "env":
        return EnvKeyProvider(settings.master_keys)
    return FileKeyProvider(settings.resolved_master_key_file)
