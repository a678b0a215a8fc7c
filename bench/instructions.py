"""Instructions per request: what the vault's process spends on a warm request, counted by
valgrind's callgrind (the same count whatever else the machine does).

``python -m bench.instructions`` makes a fresh PostgreSQL database (``BENCH_POSTGRES_URL``),
runs ``vault init`` and ``vault demo`` on it (``BENCH_INSTRUCTIONS_CUSTOMERS``, default 500)
and then, under callgrind, one process that builds the vault's app in production mode and
the plain view of ``bench.plain_app``, and sends each scenario's requests through Flask's
test client: ``WARM`` requests first, then ``MEASURED`` requests between two calls of
``os.sched_yield``, before each of which callgrind writes its counts and starts afresh
(``--dump-before``). A scenario's figure is its measured requests' count over their number;
the round trips are those of a few requests more, heard in a process of their own.

``--verbose`` lists what each request sent; ``--keep DIR`` keeps callgrind's files there, for
``callgrind_annotate``; ``--profile SCENARIO --requests N`` runs N requests (default 2,000)
of one scenario under cProfile instead, without valgrind, and prints where the CPU time goes
by Python function.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CUSTOMERS = int(os.environ.get("BENCH_INSTRUCTIONS_CUSTOMERS", "500"))
WARM = 20
MEASURED = 100
COUNTED = 5  # requests whose round trips are counted
SCENARIOS = ("healthz", "me", "get", "page", "search", "plain")
MARK = "os_sched_yield"  # the C function whose calls separate callgrind's counts
Request = Callable[[], int]  # sends one request, returns its status


def _scenarios() -> dict[str, Request]:
    """Each scenario's request, over the vault of this process's ``VAULT_*`` settings and
    the plain view over the same database; customers and e-mails in turn."""
    from bench.plain_app import create_app as plain_app
    from vault.app import create_app

    client = create_app().test_client()
    plain = plain_app().test_client()
    sales = {"Authorization": f"Bearer {os.environ['BENCH_SALES_TOKEN']}", "X-Purpose": "sales"}
    page = client.get("/api/v1/customers?limit=100", headers=sales).get_json()["items"]
    ids = itertools.cycle([item["id"] for item in page])
    emails = itertools.cycle(
        [item["fields"]["email"]["value"] for item in page if "email" in item["fields"]]
    )
    return {
        "healthz": lambda: client.get("/healthz").status_code,
        "me": lambda: client.get("/api/v1/me", headers=sales).status_code,
        "get": lambda: client.get(f"/api/v1/customers/{next(ids)}", headers=sales).status_code,
        "page": lambda: client.get("/api/v1/customers?limit=50", headers=sales).status_code,
        "search": lambda: (
            client.post(
                "/api/v1/customers/search", json={"email": next(emails)}, headers=sales
            ).status_code
        ),
        "plain": lambda: plain.get(f"/customers/{next(ids)}").status_code,
    }


def _round_trips(requests: dict[str, Request], names: list[str]) -> dict[str, Any]:
    """Per scenario, the round trips to the database of a warm request and what each sent
    (its first words). Run with psycopg's Python implementation (``PSYCOPG_IMPL=python``),
    whose sends can be heard; outside the run whose instructions are counted."""
    from psycopg.pq import pq_ctypes

    sent: list[str] = []
    prepared: dict[bytes, bytes] = {}  # a prepared statement's text, by its name
    sends = ("exec_", "send_query", "send_query_params", "send_prepare", "send_query_prepared")

    def heard(method: str) -> Callable[..., Any]:
        original = getattr(pq_ctypes.PGconn, method)

        def sending(self: Any, first: bytes, *args: Any, **kwargs: Any) -> Any:
            if method == "send_prepare":
                prepared[first] = args[0]
            text = prepared.get(first, first) if method == "send_query_prepared" else first
            words = bytes(text).decode(errors="replace").split()
            sent.append(" ".join(words[:4]) + (" ..." if len(words) > 4 else ""))
            return original(self, first, *args, **kwargs)

        return sending

    for method in sends:
        setattr(pq_ctypes.PGconn, method, heard(method))
    found: dict[str, Any] = {}
    for name in names:
        for _ in range(WARM):
            requests[name]()
        sent.clear()
        for _ in range(COUNTED):
            requests[name]()
        found[name] = {"round_trips": len(sent) / COUNTED, "sent": sent[: len(sent) // COUNTED]}
    return found


def _measure(names: list[str]) -> None:
    """The process callgrind runs: for each scenario, warm requests, a mark, the measured
    requests, a mark."""
    requests = _scenarios()
    for name in names:
        request = requests[name]
        statuses = {request() for _ in range(WARM)}
        os.sched_yield()
        statuses |= {request() for _ in range(MEASURED)}
        os.sched_yield()
        assert statuses == {200}, (name, statuses)


def _profile(name: str, times: int) -> None:
    """``times`` requests of scenario ``name`` under cProfile; the top of its tables."""
    request = _scenarios()[name]
    for _ in range(WARM):
        request()
    profiler = cProfile.Profile(time.thread_time_ns, 1e-9)  # CPU time: not the waits
    profiler.enable()
    for _ in range(times):
        request()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(45)
    stats.sort_stats("cumulative").print_stats(60)


@contextmanager
def _vault_database(workdir: Path) -> Iterator[dict[str, str]]:
    """A fresh database filled by ``vault init`` and ``vault demo``; yields the environment
    of a process serving it in production mode (with the sales client's token)."""
    from bench.harness import postgres_database

    vault = shutil.which("vault", path=str(Path(sys.executable).parent))
    assert vault is not None, f"vault is not installed beside {sys.executable}"
    with postgres_database(POSTGRES_URL, "bench instructions") as url:
        env = {
            **os.environ,
            "VAULT_ENV": "production",
            "VAULT_DATABASE_URL": url,
            "VAULT_INSTANCE_PATH": str(workdir / "instance"),
            "VAULT_BASE_URL": "https://vault.bench.example",
            "VAULT_LOG_LEVEL": "INFO",
            "BENCH_PLAIN_DATABASE_URL": url,
        }
        subprocess.run([vault, "init"], env=env, check=True, capture_output=True)
        subprocess.run([vault, "demo", "--customers", str(CUSTOMERS), "--seed", "11"],
                       env=env, check=True, capture_output=True)  # fmt: skip
        credentials = (workdir / "instance" / "demo-credentials.txt").read_text()
        (token,) = re.findall(r"^token +demo-sales +(\S+)", credentials, re.MULTILINE)
        yield {**env, "BENCH_SALES_TOKEN": token}


def _counted(env: dict[str, str], names: list[str], keep: Path | None) -> dict[str, float]:
    """Run ``_measure`` under callgrind; per scenario, instructions per request."""
    with tempfile.TemporaryDirectory(prefix="vault-callgrind-") as tmp:
        out = Path(keep or tmp)
        out.mkdir(parents=True, exist_ok=True)
        command = [
            "valgrind", "--tool=callgrind", f"--dump-before={MARK}",
            f"--callgrind-out-file={out}/callgrind.out", sys.executable, "-m",
            "bench.instructions", "--measure", *names,
        ]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"the measured process failed:\n{done.stdout}\n{done.stderr}")
        # Dump i (1-based) is written before the i-th mark: odd ones hold the warm-up,
        # even ones a scenario's measured requests; the file at exit, the rest.
        dumps = sorted(out.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        if len(dumps) != 2 * len(names):
            raise SystemExit(f"{len(dumps)} dumps for {len(names)} scenarios: was "
                             f"{MARK} called by something else?")  # fmt: skip
        return {name: _total(dumps[2 * i + 1]) / MEASURED for i, name in enumerate(names)}


def _heard(env: dict[str, str], names: list[str]) -> dict[str, Any]:
    """``_round_trips`` in a process of its own, with psycopg's Python implementation."""
    command = [sys.executable, "-m", "bench.instructions", "--round-trips", *names]
    env = {**env, "PSYCOPG_IMPL": "python"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"^ROUND-TRIPS (.*)$", done.stdout, re.MULTILINE)
    if done.returncode or found is None:
        raise SystemExit(f"the round trips were not counted:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(found[1]))


def _total(dump: Path) -> int:
    """The instructions counted in one callgrind file."""
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no total in {dump}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--profile", metavar="SCENARIO", choices=SCENARIOS)
    parser.add_argument("--requests", type=int, default=2_000, help="with --profile")
    parser.add_argument("--keep", type=Path, help="keep callgrind's files in this folder")
    parser.add_argument("--verbose", action="store_true", help="list what each request sent")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--round-trips", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    names = options.scenarios or list(SCENARIOS)
    if set(names) - set(SCENARIOS):
        parser.error(f"scenarios are any of {', '.join(SCENARIOS)}")
    if options.measure:
        _measure(names)
        return 0
    if options.round_trips:
        found = _round_trips(_scenarios(), names)
        sys.stdout.write("ROUND-TRIPS " + json.dumps(found) + "\n")
        return 0
    if options.profile is None and shutil.which("valgrind") is None:
        raise SystemExit("bench.instructions needs valgrind (apt-get install valgrind)")
    with (
        tempfile.TemporaryDirectory(prefix="vault-instructions-") as tmp,
        _vault_database(Path(tmp)) as env,
    ):
        if options.profile:
            os.environ.update(env)
            _profile(options.profile, options.requests)
            return 0
        heard = _heard(env, names)
        counted = _counted(env, names, options.keep)
    sys.stdout.write(f"{'request':10} {'instructions':>14} {'round trips':>12}\n")
    for name in names:
        sys.stdout.write(f"{name:10} {counted[name] / 1e6:>12.3f} M "
                         f"{heard[name]['round_trips']:>12.1f}\n")  # fmt: skip
        if options.verbose:
            for sent in heard[name]["sent"]:
                sys.stdout.write(f"{'':12}{sent}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
