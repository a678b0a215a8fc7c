"""The benchmark registry, the runner and the results table."""

from __future__ import annotations

import dataclasses
import json
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask

from vault import runtime
from vault.app import create_app
from vault.bootstrap import prepare_database
from vault.crypto.keys import FileKeyProvider
from vault.db import db

RESULTS_FILE = Path(__file__).with_name("results.json")


@dataclasses.dataclass
class Result:
    benchmark: str
    metric: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None  # None: informative, no target

    def row(self) -> list[str]:
        verdict = {True: "yes", False: "NO", None: ""}[self.ok]
        return [self.benchmark, self.metric, f"{self.value:,.3f}", self.unit, self.target, verdict]


BenchmarkFn = Callable[["Context"], list[Result]]
BENCHMARKS: dict[str, BenchmarkFn] = {}


def benchmark(name: str) -> Callable[[BenchmarkFn], BenchmarkFn]:
    def register(fn: BenchmarkFn) -> BenchmarkFn:
        BENCHMARKS[name] = fn
        return fn

    return register


@dataclasses.dataclass
class Context:
    workdir: Path

    @contextmanager
    def sqlite_vault(self, name: str) -> Iterator[str]:
        """A fresh, migrated and seeded SQLite database; yields its URL."""
        url = f"sqlite:///{self.workdir / (name + '.db')}"
        prepare_database(url)
        yield url

    def vault_app(self, name: str, database_url: str | None = None, **extra: Any) -> Flask:
        """The vault's Flask app over a fresh SQLite vault (or the empty database at
        ``database_url``, migrated and seeded here) with its own master key; ``extra``
        settings override the defaults."""
        instance = self.workdir / name
        FileKeyProvider.create(instance / "master.key")
        if database_url is None:
            with self.sqlite_vault(name) as url:
                database_url = url
        else:
            prepare_database(database_url)
        settings = {
            "env": "testing",
            "database_url": database_url,
            "instance_path": str(instance),
            "log_level": "WARNING",
        }  # a table, not a request log, is the output
        app = create_app({**settings, "secret_key": "b" * 40, **extra})
        with app.app_context():  # what `vault init` does to the audit log
            runtime.audit_log().initialise(db.session, now=runtime.now())
        return app


@contextmanager
def postgres_database(server_url: str, purpose: str) -> Iterator[str]:
    """An empty database of its own on the PostgreSQL server of ``server_url`` (any database
    URL there), dropped afterwards; yields its URL. ``purpose`` names what needs it, for the
    message when the server cannot be reached."""
    name = f"vault_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise SystemExit(f"{purpose} needs PostgreSQL at {server_url}: {exc}") from exc
    try:
        yield server_url.rpartition("/")[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(fn: Callable[[], Any], *, repeat: int) -> list[float]:
    """Seconds per call of ``fn``, ``repeat`` times."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def run(names: list[str]) -> list[Result]:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(
            f"unknown benchmark: {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})"
        )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="vault-bench-") as tmp:
        context = Context(Path(tmp))
        for name in names or list(BENCHMARKS):
            results.extend(BENCHMARKS[name](context))
    return results


def render(results: list[Result]) -> str:
    header = ["benchmark", "metric", "value", "unit", "target", "met"]
    rows = [header, *[r.row() for r in results]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write(results: list[Result], path: Path = RESULTS_FILE) -> None:
    """Write ``results`` to ``path``, keeping the rows there of benchmarks not run this time
    (so ``python -m bench <name>`` refreshes that benchmark's rows only). Each row says when
    it was measured."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ran = {r.benchmark for r in results}
    kept: list[dict[str, Any]] = []
    previous: dict[str, Any] = {}
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        for row in previous.get("results", []):
            if row["benchmark"] not in ran:
                kept.append({"measured_at": previous.get("measured_at", ""), **row})
    rows = kept + [{**dataclasses.asdict(r), "measured_at": now} for r in results]
    order = {name: i for i, name in enumerate(BENCHMARKS)}
    rows.sort(key=lambda row: order.get(row["benchmark"], len(order)))  # stable within one
    payload = {
        **previous,  # the sections of other runs (``fuzz``) stay
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "measured_at": now,
        "results": rows,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def write_section(name: str, section: dict[str, Any], path: Path = RESULTS_FILE) -> None:
    """Record ``section`` under the key ``name`` of ``path``, measured now, keeping the rest."""
    payload = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    payload[name] = {"measured_at": now, **section}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
