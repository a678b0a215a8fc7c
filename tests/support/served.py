"""`vault serve` in a process of its own, over a test app's database and instance folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
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
    with log.open("w", encoding="utf-8") as output:
        command = [vault, "serve", "--port", str(port), *args]
        server = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{listening_port(log, server) if gunicorn else port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=1):  # noqa: S310  (http://127.0.0.1)
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        output.flush()
                        tail = log.read_text(encoding="utf-8")[-2000:]
                        raise RuntimeError(f"vault serve did not answer:\n{tail}") from None
                    time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)
