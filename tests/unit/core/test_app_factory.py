"""The factory and the settings it reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TypedDict

import pytest
from click.testing import CliRunner

from tests.helpers import TEST_SECRET_KEY, app_settings
from vault.app import create_app
from vault.cli import main
from vault.config import Settings, load_settings
from vault.errors import ConfigurationError


def test_importing_the_app_module_has_no_side_effects(tmp_path: Path) -> None:
    code = "import vault.app, vault.cli, os; print(sorted(os.listdir('.')))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_create_app_uses_the_given_settings(migrated_database_url: str, tmp_path: Path) -> None:
    app = create_app(app_settings(migrated_database_url, tmp_path / "i", max_content_length=1234))
    settings = app.config["VAULT_SETTINGS"]
    assert isinstance(settings, Settings)
    assert settings.testing
    assert app.testing
    assert app.config["MAX_CONTENT_LENGTH"] == 1234
    assert app.config["SECRET_KEY"] == TEST_SECRET_KEY


def test_defaults_put_an_sqlite_database_under_instance(tmp_path: Path) -> None:
    settings = load_settings({"instance_path": str(tmp_path / "inst")}, environ={})
    assert settings.database_url == f"sqlite:///{tmp_path / 'inst' / 'vault.db'}"
    assert settings.max_content_length == 10 * 1024 * 1024
    assert settings.resolved_log_format == "console"


def test_environment_variables_are_read_and_typed(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "VAULT_INSTANCE_PATH": str(tmp_path),
            "VAULT_DATABASE_URL": "postgresql://db/x",
            "VAULT_MAX_CONTENT_LENGTH": "2048",
            "VAULT_SESSION_COOKIE_SECURE": "true",
        }
    )
    assert settings.database_url == "postgresql://db/x"
    assert settings.max_content_length == 2048
    assert settings.session_cookie_secure is True


def test_overrides_beat_environment_which_beats_the_file(tmp_path: Path) -> None:
    config = tmp_path / "vault.toml"
    config.write_text(
        '[vault]\nlog_level = "DEBUG"\nlogin_max_failures = 7\nmax_content_length = 10\n'
    )
    settings = load_settings(
        {"max_content_length": 30, "instance_path": str(tmp_path)},
        environ={"VAULT_CONFIG_FILE": str(config), "VAULT_LOGIN_MAX_FAILURES": "9"},
    )
    assert settings.log_level == "DEBUG"
    assert settings.login_max_failures == 9
    assert settings.max_content_length == 30


@pytest.mark.parametrize(
    ("overrides", "environ", "message"),
    [
        ({"no_such_setting": 1}, {}, "unknown setting"),
        ({}, {"VAULT_MAX_CONTENT_LENGTH": "lots"}, "VAULT_MAX_CONTENT_LENGTH"),
        ({}, {"VAULT_ENV": "staging"}, "VAULT_ENV"),
    ],
)
def test_bad_settings_are_refused(
    overrides: dict[str, object], environ: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings({"instance_path": str(tmp_path), **overrides}, environ=environ)


def test_a_config_file_with_unknown_keys_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "vault.toml"
    config.write_text("[vault]\ndatabse_url = 'typo'\n")
    with pytest.raises(ConfigurationError, match="databse_url"):
        load_settings(environ={"VAULT_CONFIG_FILE": str(config)})


def test_production_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="VAULT_SECRET_KEY"):
        create_app({"env": "production", "instance_path": str(tmp_path)})
    with pytest.raises(ConfigurationError, match="VAULT_SECRET_KEY"):
        create_app({"env": "production", "instance_path": str(tmp_path), "secret_key": "short"})
    with pytest.raises(ConfigurationError, match="master key"):
        create_app({"env": "production", "instance_path": str(tmp_path), "secret_key": "k" * 40})


def test_production_with_secrets_starts_with_secure_cookies(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_bytes(b"\0" * 32)
    app = create_app(
        {
            "env": "production",
            "instance_path": str(tmp_path),
            "secret_key": "k" * 40,
            "master_key_file": str(key_file),
            "base_url": "https://vault.example.com",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["VAULT_SETTINGS"].resolved_log_format == "json"


def test_the_secret_key_kept_under_instance_is_used(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("kept-secret-" + "y" * 40)
    app = create_app({"instance_path": str(tmp_path)})
    assert app.config["SECRET_KEY"] == "kept-secret-" + "y" * 40


def test_vault_init_starts_a_production_vault_on_a_fresh_instance(tmp_path: Path) -> None:
    """`vault init` is what writes the secret key and master key files, so it alone may run
    without them; every other command still refuses to."""
    env = {"VAULT_ENV": "production", "VAULT_INSTANCE_PATH": str(tmp_path / "instance"),
           "VAULT_BASE_URL": "https://vault.example.com", "VAULT_SECRET_KEY": "",
           "VAULT_DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'vault.db'}"}  # fmt: skip
    runner = CliRunner(env=env)
    refused = runner.invoke(main, ["db", "current"])
    assert refused.exit_code != 0
    assert "VAULT_SECRET_KEY" in str(refused.exception) + refused.output
    done = runner.invoke(main, ["init"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "instance" / "master.key").exists()
    after = runner.invoke(main, ["db", "current"])
    assert after.exit_code == 0, after.output
    short = CliRunner(env={**env, "VAULT_SECRET_KEY": "short"}).invoke(main, ["init"])
    assert short.exit_code != 0  # a configured key that is too short is never accepted
    assert "at least 32 bytes" in str(short.exception) + short.output


class Secrets(TypedDict):
    """The settings that hold a secret, or an address that may carry a password."""

    database_url: str
    secret_key: str
    master_keys: str
    ratelimit_storage_uri: str
    audit_anchor: str
    smtp_password: str


def test_the_settings_repr_shows_no_secret() -> None:
    secrets: Secrets = {"database_url": "postgresql://vault:db-password-1@db/vault",
                        "secret_key": "secret-key-" + "s" * 32, "master_keys": '{"1": "bWFzdGVy"}',
                        "ratelimit_storage_uri": "redis://:redis-password-2@cache:6379",
                        "audit_anchor": "postgresql://anchor:anchor-password-3@db/anchor",
                        "smtp_password": "smtp-password-4"}  # fmt: skip
    shown = repr(Settings(**secrets)) + str(Settings(**secrets))
    for value in secrets.values():
        assert isinstance(value, str)  # a TypedDict's values() are typed object
        assert value not in shown
    for secret in ("db-password-1", "redis-password-2", "anchor-password-3", "bWFzdGVy"):
        assert secret not in shown
    assert "env='development'" in shown  # the rest still shows
