"""`vault serve` in a process of its own, over a test app's database and instance folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from tests.support.ports import free_port, listening_port


@contextmanager
def served_vault(app: Flask, log: Path, *args: str, **env: str) -> Iterator[str]:
    """Serve ``app``'s vault (``args`` go to `vault serve`, ``env`` to its environment) until
    the block ends; yields its URL once it answers. Its output goes to ``log``. With
    ``--workers``, gunicorn binds port 0 and the port is read from its log; the development
    server is given a free port."""
    settings = app.config["VAULT_SETTINGS"]
    gunicorn = "--workers" in args
    port = 0 if gunicorn else free_port()
    environment = {
        **os.environ, "VAULT_DATABASE_URL": settings.database_url,
        "VAULT_INSTANCE_PATH": str(settings.instance_path), "VAULT_ENV": "testing",
        "VAULT_AUDIT_ANCHOR": settings.audit_anchor,
        "VAULT_SECRET_KEY": "served-test-secret-" + "x" * 32, "PYTHONUNBUFFERED": "1", **env,
    }  # fmt: skip
    vault = shutil.which("vault", path=str(Path(sys.executable).parent))
    assert vault is not None
    command = [vault, "serve", "--port", str(port), *args]
    with served_command(command, environment, log, port=None if gunicorn else port) as url:
        yield url


@contextmanager
def served_command(
    command: list[str], env: dict[str, str], log: Path, *, port: int | None = None,
    seconds: float = 20,
) -> Iterator[str]:  # fmt: skip
    """Run the HTTP server ``command`` until the block ends, its output going to ``log``;
    yields its URL once it answers ``/healthz`` (any HTTP answer counts). It listens on
    ``port``, or, without one, it is a gunicorn bound to port 0 and says where in ``log``."""
    with log.open("w", encoding="utf-8") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port or listening_port(log, server, seconds)}"
            deadline = time.monotonic() + seconds
            while not _answers(url + "/healthz"):
                if time.monotonic() > deadline or server.poll() is not None:
                    output.flush()
                    tail = log.read_text(encoding="utf-8")[-2000:]
                    raise RuntimeError(f"{command[0]} did not answer:\n{tail}") from None
                time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (http://127.0.0.1)
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
