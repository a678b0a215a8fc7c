"""Ports for the servers tests start: bound as 0 and read back where the server says which
port it took, picked free beforehand where it cannot."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path


def listening_port(log: Path, server: subprocess.Popen[bytes], seconds: float = 20) -> int:
    """The port a gunicorn told to bind port 0 listens on, read from its "Listening at" line
    in ``log``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        if found := re.search(r"Listening at: http://127\.0\.0\.1:(\d+) ", text):
            return int(found[1])
        time.sleep(0.1)
    tail = log.read_text(encoding="utf-8")[-2000:] if log.exists() else ""
    raise RuntimeError(f"gunicorn did not say where it listens:\n{tail}")


def free_port() -> int:
    """A port that was free a moment ago, for servers that cannot bind port 0 and say which
    port they took: PostgreSQL (the port is in its configuration) and `vault serve`'s
    development server (the vault keeps werkzeug's log, which would name it, quiet). Freed,
    it is also a port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
