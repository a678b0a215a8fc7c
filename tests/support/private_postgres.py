"""A PostgreSQL cluster of a test's own (initdb + pg_ctl), on a free port and a socket folder
of its own, that the test may stop, start, freeze and thaw without touching anybody else's
database. Run as root, the cluster runs as the ``postgres`` OS user (initdb refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.ports import free_port

OS_USER = "postgres"


def postgres_bin() -> Path:
    """The newest PostgreSQL's bin folder. Without one the test fails: a missing service is
    a failure, never a skip."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not found:
        message = "PostgreSQL's initdb and pg_ctl are needed (/usr/lib/postgresql/*/bin)"
        pytest.fail(message)
    return Path(found[-1]).parent


class PrivatePostgres:
    """One cluster under ``root``: ``start``, ``stop`` (fast), ``freeze`` (SIGSTOP on the
    postmaster and every child), ``thaw``, ``destroy`` (always safe to call)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.port = free_port()
        self.bin = postgres_bin()
        self.frozen: list[int] = []
        self.as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *command: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", OS_USER, "--"] if self.as_root else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{done.stdout}\n{done.stderr}")

    def initialise(self) -> None:
        self.sockets.mkdir()
        if self.as_root:
            user = pwd.getpwnam(OS_USER)
            for path in (self.root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--no-instructions", "--no-sync",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "shared_buffers = 16MB\nmax_connections = 60\nfsync = on\n"
                "max_wal_size = 64MB\nlog_min_messages = warning\n"
            )

    def start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _children(self, postmaster: int) -> list[int]:
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    children.append(int(Path(stat).parent.name))
        return children

    def _stop_process(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
            self.frozen.append(pid)

    def freeze(self) -> None:
        """SIGSTOP the postmaster (first, so that it starts no one new), then every child,
        again until no child is left running (one may have been forked meanwhile)."""
        postmaster = self.postmaster_pid()
        assert postmaster is not None, "the cluster is not running"
        self._stop_process(postmaster)
        while running := [p for p in self._children(postmaster) if p not in self.frozen]:
            for pid in running:
                self._stop_process(pid)

    def thaw(self) -> None:
        for pid in reversed(self.frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def destroy(self) -> None:
        """Thaw, stop (immediately; kill if it will not) and remove the cluster."""
        self.thaw()
        if self.postmaster_pid() is not None:
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pid = self.postmaster_pid()
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, destroyed when the block ends, however it ends. Its folder
    is directly under the temporary folder: the ``postgres`` user must be able to reach it."""
    root = Path(tempfile.mkdtemp(prefix="vault-pg-"))
    cluster = PrivatePostgres(root)
    try:
        cluster.initialise()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
