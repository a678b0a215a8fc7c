"""`vault serve --workers N`: the vault under gunicorn, N worker processes forked from one
master. Each worker builds its own app from the same settings (nothing of the master's
database connections is shared across a fork); the master runs the scheduled jobs, once for
all workers. gunicorn's control socket lives in the vault's instance folder (mode 0600), so
that several vaults on one host never take each other's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from vault.app import create_app
from vault.config import Settings
from vault.db import db

CONTROL_SOCKET = "gunicorn.ctl"


def control_socket_path(settings: Settings) -> Path:
    return Path(settings.instance_path) / CONTROL_SOCKET


class VaultServer(BaseApplication):  # type: ignore[misc]  # (gunicorn is untyped)
    """gunicorn, configured from arguments rather than from its command line."""

    def __init__(
        self,
        master_app: Flask,
        *,
        bind: str,
        workers: int,
        threads: int = 1,
        control_socket: bool = True,
        jobs: Callable[[threading.Event], None] | None = None,
    ) -> None:
        self.master_app = master_app
        self.settings: Settings = master_app.config["VAULT_SETTINGS"]
        self.jobs = jobs
        self.stop = threading.Event()
        self.options: dict[str, Any] = {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            "preload_app": False,  # each worker builds its own app, engine and pool
            "graceful_timeout": 20,
            "accesslog": None,  # the vault logs every request itself (request.completed)
            "control_socket": str(control_socket_path(self.settings)),
            "control_socket_mode": 0o600,
            "control_socket_disable": not control_socket,
            "when_ready": self._when_ready,
            "post_fork": self._post_fork,
            "on_exit": self._on_exit,
            "proc_name": "vault",
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return create_app(self.settings)

    def _when_ready(self, _arbiter: Any) -> None:
        if self.jobs is not None:
            threading.Thread(target=self.jobs, args=(self.stop,), name="vault-jobs",
                             daemon=True).start()  # fmt: skip

    def _post_fork(self, _arbiter: Any, _worker: Any) -> None:
        # The master's pooled connections belong to the master: the worker forgets its copies
        # without closing them (closing would end the master's sessions).
        db.state(self.master_app).engine.dispose(close=False)

    def _on_exit(self, _arbiter: Any) -> None:
        self.stop.set()
