"""The SQLite database and its -wal and -shm files are private to the vault's user (0600) and
so is the instance folder (0700), however the process's umask is set; `vault init` tightens
an instance folder or database that an earlier version left readable by others."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.helpers import PASSWORD
from vault.cli import main
from vault.db import create_db_engine, sqlite_database_path
from vault.private_files import restrict_mode


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask, which would leave new files readable by everyone (0644)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_sqlite_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    database = tmp_path / "data" / "vault.db"
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        with engine.connect() as connection:  # the -wal and -shm files exist while open
            assert connection.scalar(sa.text("SELECT count(*) FROM t")) == 1
            for suffix in ("", "-wal", "-shm"):
                path = Path(f"{database}{suffix}")
                assert path.exists(), suffix
                assert mode(path) == 0o600, suffix
    finally:
        engine.dispose()
    assert mode(database.parent) == 0o700


def test_an_existing_database_keeps_its_mode_and_content(tmp_path: Path) -> None:
    database = tmp_path / "vault.db"
    engine = create_db_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    engine.dispose()
    database.chmod(0o640)  # an operator's choice is not the engine's to undo
    engine = create_db_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    engine.dispose()
    assert mode(database) == 0o640


@pytest.mark.parametrize(
    ("url", "expected"),
    [("sqlite:///relative/v.db", Path("relative/v.db")), ("sqlite://", None),
     ("sqlite:///:memory:", None), ("postgresql://db/vault", None),
     ("sqlite:///file:v.db?mode=memory&uri=true", None)],
)  # fmt: skip
def test_the_database_file_of_a_url(url: str, expected: Path | None) -> None:
    assert sqlite_database_path(url) == expected


def test_init_creates_a_private_instance_and_database(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    env = {"VAULT_INSTANCE_PATH": str(instance), "VAULT_LOG_FORMAT": "json",
           "VAULT_DATABASE_URL": f"sqlite:///{instance / 'vault.db'}"}  # fmt: skip
    result = CliRunner(env=env).invoke(
        main, ["init", "--admin-email", "a@example.com", "--admin-password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert mode(instance) == 0o700
    assert mode(instance / "vault.db") == 0o600
    for path in instance.iterdir():
        assert mode(path) & 0o077 == 0, path.name


def test_init_tightens_a_loose_instance_and_database_and_says_so(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    database = instance / "vault.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").touch(mode=0o644)  # an empty file is an empty database
    assert (mode(instance), mode(database)) == (0o755, 0o644)
    env = {"VAULT_INSTANCE_PATH": str(instance), "VAULT_LOG_FORMAT": "json",
           "VAULT_DATABASE_URL": f"sqlite:///{database}"}  # fmt: skip
    args = ["init", "--admin-email", "a@example.com", "--admin-password", PASSWORD]
    first = CliRunner(env=env).invoke(main, args)
    assert first.exit_code == 0, first.output
    assert mode(instance) == 0o700
    assert mode(database) == 0o600
    assert f"- restricted {instance} to mode 0700" in first.stdout
    assert f"- restricted {database} to mode 0600" in first.stdout
    for suffix in ("-wal", "-shm"):
        path = Path(f"{database}{suffix}")
        if path.exists():  # SQLite may have removed them when its last connection closed
            assert mode(path) == 0o600
    second = CliRunner(env=env).invoke(main, args)
    assert second.stdout.strip() == "Nothing changed: the vault is already initialised."


def test_only_what_belongs_to_the_vaults_user_is_changed(tmp_path: Path) -> None:
    loose = tmp_path / "shared"
    loose.touch(mode=0o644)
    someone_else = os.geteuid() + 1
    assert restrict_mode(loose, 0o600, owner=someone_else) is False
    assert mode(loose) == 0o644
    assert restrict_mode(loose, 0o600) is True
    assert mode(loose) == 0o600
    assert restrict_mode(loose, 0o600) is False  # already private: nothing to do
    assert restrict_mode(tmp_path / "missing", 0o600) is False
    stricter = tmp_path / "stricter"
    stricter.touch(mode=0o400)
    assert restrict_mode(stricter, 0o600) is False  # never widens a mode
    assert mode(stricter) == 0o400
