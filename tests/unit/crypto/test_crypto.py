"""Key providers (one conformance suite for both), envelope encryption and blind indexes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from vault.config import load_settings
from vault.crypto.blind_index import BlindIndex
from vault.crypto.envelope import DataKeyDestroyed, DecryptionFailed, KeyRing, WrappedKey
from vault.crypto.keys import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyProvider,
    KeyUnavailable,
    provider_from_settings,
)
from vault.errors import ConfigurationError


@pytest.fixture(params=["file", "env"])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyProvider]:
    file_provider = FileKeyProvider.create(tmp_path / "master.key")
    if request.param == "file":
        yield file_provider
    else:
        yield EnvKeyProvider((tmp_path / "master.key").read_text())


def test_conformance_current_key_is_32_bytes(provider: KeyProvider) -> None:
    version = provider.current_version()
    assert version in provider.versions()
    assert len(provider.master_key(version)) == 32


def test_conformance_unknown_version_is_refused(provider: KeyProvider) -> None:
    with pytest.raises(KeyUnavailable):
        provider.master_key(99)


def test_conformance_derived_keys_are_stable_and_separate(provider: KeyProvider) -> None:
    first = provider.derived_key("vault/blind-index/v1")
    assert first == provider.derived_key("vault/blind-index/v1")
    assert len(first) == 32
    assert first != provider.derived_key("vault/audit/v1")
    assert first != provider.master_key(provider.current_version())


def test_conformance_wraps_and_unwraps(provider: KeyProvider) -> None:
    ring = KeyRing(provider)
    wrapped, cipher = ring.new_data_key("cus_a")
    blob = cipher.encrypt("email", b"jane@example.com")
    fresh = KeyRing(provider).cipher("cus_a", wrapped, 1)
    assert fresh.decrypt("email", blob) == b"jane@example.com"


def test_the_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    FileKeyProvider.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        FileKeyProvider.create(path)


def test_a_new_version_keeps_the_old_and_the_derived_keys(tmp_path: Path) -> None:
    provider = FileKeyProvider.create(tmp_path / "master.key")
    old_key = provider.master_key(1)
    index_key = provider.derived_key("vault/blind-index/v1")
    assert provider.add_version() == 2
    reopened = FileKeyProvider(tmp_path / "master.key")
    assert reopened.current_version() == 2
    assert reopened.versions() == [1, 2]
    assert reopened.master_key(1) == old_key
    assert reopened.derived_key("vault/blind-index/v1") == index_key
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600


def test_a_running_process_sees_a_rotation_made_by_another(tmp_path: Path) -> None:
    server = FileKeyProvider.create(tmp_path / "master.key")
    cli = FileKeyProvider(tmp_path / "master.key")
    cli.add_version()
    os.utime(tmp_path / "master.key", ns=(1, 10**18))  # a distinct mtime on coarse clocks
    assert server.current_version() == 2
    assert len(server.master_key(2)) == 32


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        json.dumps({"format": "other"}),
        json.dumps(
            {"format": "vault-keys/1", "current": 2, "master_keys": {"1": "AAAA"}, "root": "AAAA"}
        ),
        json.dumps(
            {"format": "vault-keys/1", "current": 1, "master_keys": {"1": "AAAA"}, "root": "AAAA"}
        ),
    ],
)
def test_malformed_key_material_is_refused(document: str) -> None:
    with pytest.raises(ConfigurationError):
        EnvKeyProvider(document)


def test_a_missing_key_file_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="vault init"):
        FileKeyProvider(tmp_path / "absent.key")


def test_settings_choose_the_provider(tmp_path: Path) -> None:
    FileKeyProvider.create(tmp_path / "master.key")
    document = (tmp_path / "master.key").read_text()
    env = provider_from_settings(
        load_settings(
            {"instance_path": str(tmp_path), "key_provider": "env", "master_keys": document},
            environ={},
        )
    )
    assert isinstance(env, EnvKeyProvider)
    file = provider_from_settings(load_settings({"instance_path": str(tmp_path)}, environ={}))
    assert isinstance(file, FileKeyProvider)
    assert env.master_key(1) == file.master_key(1)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(FileKeyProvider.create(tmp_path / "master.key"))


def test_each_encryption_uses_a_fresh_nonce(ring: KeyRing) -> None:
    _wrapped, cipher = ring.new_data_key("cus_a")
    first = cipher.encrypt("email", b"same")
    second = cipher.encrypt("email", b"same")
    assert first[:12] != second[:12]
    assert first != second


def test_a_ciphertext_moved_to_another_field_or_customer_fails(ring: KeyRing) -> None:
    wrapped_a, cipher_a = ring.new_data_key("cus_a")
    blob = cipher_a.encrypt("email", b"jane@example.com")
    with pytest.raises(DecryptionFailed) as moved_field:
        cipher_a.decrypt("phone", blob)
    assert "'phone'" in str(moved_field.value)
    assert "cus_a" in str(moved_field.value)
    # Another customer: even with customer a's data key under b's name, the binding fails.
    raw_key = ring.unwrap("cus_a", wrapped_a)
    other = ring.wrap("cus_b", raw_key, 1)
    with pytest.raises(DecryptionFailed) as moved_customer:
        KeyRing(ring.provider).cipher("cus_b", other, 1).decrypt("email", blob)
    assert "cus_b" in str(moved_customer.value)
    assert "jane" not in str(moved_customer.value)


def test_a_tampered_ciphertext_fails_and_names_customer_and_field(ring: KeyRing) -> None:
    _wrapped, cipher = ring.new_data_key("cus_a")
    blob = bytearray(cipher.encrypt("national_id", b"AB-123"))
    blob[15] ^= 1
    with pytest.raises(DecryptionFailed, match="'national_id' of customer cus_a"):
        cipher.decrypt("national_id", bytes(blob))
    with pytest.raises(DecryptionFailed):
        cipher.decrypt("national_id", b"short")


def test_a_data_key_under_the_wrong_master_key_fails(ring: KeyRing, tmp_path: Path) -> None:
    wrapped, cipher = ring.new_data_key("cus_a")
    stranger = KeyRing(FileKeyProvider.create(tmp_path / "other.key"))
    with pytest.raises(DecryptionFailed, match="data key"):
        stranger.cipher("cus_a", wrapped, 1)
    with pytest.raises(KeyUnavailable):
        KeyRing(ring.provider).cipher("cus_a", WrappedKey(wrapped.wrapped, 2), 1)
    # The data-key version is bound too: a value written under version 1 does not open as 2.
    blob = cipher.encrypt("email", b"x")
    with pytest.raises(DecryptionFailed):
        KeyRing(ring.provider).cipher("cus_a", wrapped, 2).decrypt("email", blob)


def test_a_destroyed_data_key_is_gone(ring: KeyRing) -> None:
    _wrapped, cipher = ring.new_data_key("cus_a")
    ring.forget("cus_a")
    with pytest.raises(DataKeyDestroyed):
        ring.cipher("cus_a", None, cipher.dek_version)


def test_blind_indexes_are_deterministic_keyed_and_per_field() -> None:
    index = BlindIndex(b"k" * 32)
    assert index.digest("email", "a@example.com") == index.digest("email", "a@example.com")
    assert index.digest("email", "a@example.com") != index.digest("phone", "a@example.com")
    assert index.digest("email", "a@example.com") != BlindIndex(b"j" * 32).digest(
        "email", "a@example.com"
    )
    assert len(index.digest("email", "a@example.com")) == 32


def test_batch_encryption_uses_a_nonce_per_field_and_binds_each_field(ring: KeyRing) -> None:
    _wrapped, cipher = ring.new_data_key("cus_a")
    sealed = cipher.encrypt_many({"email": b"a@example.com", "phone": b"+442079460958", "x": b""})
    nonces = {blob[:12] for blob in sealed.values()}
    assert len(nonces) == 3
    opened = cipher.decrypt_many(sealed)
    assert opened == {"email": b"a@example.com", "phone": b"+442079460958", "x": b""}
    assert cipher.decrypt("phone", sealed["phone"]) == b"+442079460958"
    with pytest.raises(DecryptionFailed, match="'email'"):
        cipher.decrypt_many({"email": sealed["phone"]})
