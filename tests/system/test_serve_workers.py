"""`vault serve --workers N`: gunicorn with N workers, the jobs once in its master, and a
control socket of each vault's own (gunicorn's default path is shared by every server of a
user, so that two vaults on one host took it from each other)."""

from __future__ import annotations

import shutil
import stat
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from tests.helpers import commit_events, sealed_within
from tests.support.served import served_vault
from vault.cli import main


def test_two_vaults_on_one_host_each_have_their_own_control_socket(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app()
    commit_events(app, 6)
    first = Path(app.config["VAULT_SETTINGS"].instance_path)
    second = tmp_path / "second-instance"
    shutil.copytree(first, second)
    home, runtime_dir = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    runtime_dir.mkdir()
    shared = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime_dir),
              "VAULT_AUDIT_SEAL_SECONDS": "1"}  # fmt: skip
    log_one, log_two = tmp_path / "one.log", tmp_path / "two.log"
    with (
        served_vault(app, log_one, "--workers", "2", **shared) as one,
        served_vault(
            app, log_two, "--workers", "2", "--no-jobs", **shared, VAULT_INSTANCE_PATH=str(second)
        ) as two,  # fmt: skip
    ):
        for url in (one, two):
            for _ in range(4):
                with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:  # noqa: S310  (127.0.0.1)
                    assert answer.status == 200
        for instance in (first, second):
            socket_file = instance / "gunicorn.ctl"
            deadline = time.monotonic() + 10  # the master opens it beside its workers' boot
            while not socket_file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            mode = socket_file.stat().st_mode
            assert stat.S_ISSOCK(mode)
            assert stat.S_IMODE(mode) == 0o600
        assert list(runtime_dir.iterdir()) == []  # gunicorn's shared default is never used
        assert not (home / ".gunicorn").exists()
        assert sealed_within(app, 6, seconds=20) >= 6  # the master's jobs seal the log
    text = log_one.read_text(encoding="utf-8")
    scheduled = "audit sealing every 1 s, events relayed as they come."
    assert f"Scheduled jobs in the server's master process: {scheduled}" in text
    assert "Booting worker" in text
    assert "Traceback" not in text + log_two.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "4"], "--threads is for gunicorn's workers"),
        (["--workers", "0"], "0 is not in the range x>=1"),
    ],
)
def test_serve_refuses_threads_without_workers_and_no_workers(
    args: list[str], message: str, make_app: Callable[..., Flask]
) -> None:
    app = make_app()
    settings = app.config["VAULT_SETTINGS"]
    env = {"VAULT_DATABASE_URL": settings.database_url,
           "VAULT_INSTANCE_PATH": str(settings.instance_path)}  # fmt: skip
    result = CliRunner(env=env).invoke(main, ["serve", *args])
    assert result.exit_code == 2
    assert message in result.output
