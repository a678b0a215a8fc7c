"""HTTP: governed reads over loopback, against a plain Flask view in the same run.

The vault is served as an operator serves it (``vault serve --workers N --no-jobs``, gunicorn,
PostgreSQL), over a vault filled by ``vault demo`` (``BENCH_HTTP_CUSTOMERS``, default 10,000).
Beside it, in the same run and over the same database, gunicorn serves ``bench.plain_app``:
a plain Flask + SQLAlchemy view reading the same customer rows, the baseline a team would
write instead. wrk (Debian's package; ``make bench`` installs it) drives each scenario on
loopback for ``BENCH_HTTP_SECONDS`` (default 10) with 8 connections, then the governed read
once more with 50 connections for ``BENCH_HTTP_SOAK_SECONDS`` (default 60). Every scenario
picks its customers at random from those the calling client may see; a response that is not
2xx counts as an error. The ratio governed/plain is of requests per second in this run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.harness import Context, Result, benchmark, postgres_database
from tests.support.served import served_command

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CUSTOMERS = int(os.environ.get("BENCH_HTTP_CUSTOMERS", "10000"))
SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "10"))
SOAK_SECONDS = float(os.environ.get("BENCH_HTTP_SOAK_SECONDS", "60"))
WORKERS = int(os.environ.get("BENCH_HTTP_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_HTTP_THREADS", "1"))
CONNECTIONS = 8
SOAK_CONNECTIONS = 50
SAMPLE = 2_000  # customers each scenario picks from

# Every script picks from ``items`` (one per line in the file ``ITEMS``) and reports, when
# done, one JSON line that ``_run_wrk`` reads. ``%s`` is the request() of the scenario.
WRK_SCRIPT = r"""
local items = {}
for line in io.lines(os.getenv("ITEMS")) do items[#items + 1] = line end
local counter = 0
math.randomseed(os.time())
function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end
function init(args)
  math.randomseed(os.time() + tonumber(tid or "0"))
end
%s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests": %%d, "seconds": %%f, "p50_us": %%d, "p99_us": %%d, ' ..
    '"errors": %%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""

REQUESTS = {
    "get": r"""
function request()
  return wrk.format("GET", "/api/v1/customers/" .. items[math.random(#items)])
end""",
    "plain": r"""
function request()
  return wrk.format("GET", "/customers/" .. items[math.random(#items)])
end""",
    "page": r"""
function request()
  return wrk.format("GET", "/api/v1/customers?limit=50")
end""",
    "search": r"""
function request()
  local body = '{"email": "' .. items[math.random(#items)] .. '"}'
  return wrk.format("POST", "/api/v1/customers/search", nil, body)
end""",
    "create": r"""
function request()
  counter = counter + 1
  local email = "bench." .. tid .. "." .. counter .. "@example.org"
  local body = '{"region": "EU", "fields": {"given_name": "Bench", "family_name": "Load", '
    .. '"email": "' .. email .. '"}}'
  return wrk.format("POST", "/api/v1/customers", nil, body)
end""",
    "me": r"""
function request()
  return wrk.format("GET", "/api/v1/me")
end""",
}


def _vault_env(database_url: str, instance: Path) -> dict[str, str]:
    return {
        **os.environ,
        "VAULT_ENV": "production",
        "VAULT_DATABASE_URL": database_url,
        "VAULT_INSTANCE_PATH": str(instance),
        "VAULT_BASE_URL": "https://vault.bench.example",
        "PYTHONUNBUFFERED": "1",
    }


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found is not None, f"{name} is not installed beside {sys.executable}"
    return found


def _get(url: str, token: str, purpose: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if purpose:
        headers["X-Purpose"] = purpose
    request = urllib.request.Request(url, headers=headers)  # noqa: S310  (loopback)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)


def _sample(base: str, token: str) -> tuple[list[str], list[str]]:
    """Ids and emails of up to ``SAMPLE`` customers the sales client sees."""
    ids: list[str] = []
    emails: list[str] = []
    cursor = ""
    while len(ids) < SAMPLE:
        page = _get(f"{base}/api/v1/customers?limit=100{cursor}", token, "sales")
        for item in page["items"]:
            ids.append(item["id"])
            email = item["fields"].get("email", {}).get("value")
            if email:
                emails.append(email)
        if not page.get("next_cursor"):
            break
        cursor = "&cursor=" + page["next_cursor"]
    return ids, emails


def _run_wrk(
    workdir: Path, url: str, scenario: str, items: list[str], *, connections: int,
    seconds: float, headers: dict[str, str],
) -> dict[str, float]:  # fmt: skip
    script = workdir / f"{scenario}.lua"
    script.write_text(WRK_SCRIPT % REQUESTS[scenario], encoding="utf-8")
    listing = workdir / f"{scenario}.items"
    listing.write_text("\n".join(items or ["-"]) + "\n", encoding="utf-8")
    command = [
        "wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "5s",
        "-s", str(script),
    ]  # fmt: skip
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True,
        env={**os.environ, "ITEMS": str(listing)},
    )  # fmt: skip
    found = re.search(r"^WRK-RESULT (.*)$", done.stdout, re.MULTILINE)
    if found is None:
        raise SystemExit(f"wrk said no result:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(found[1])
    return {
        "rps": raw["requests"] / raw["seconds"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": raw["errors"],
    }


def _rows(name: str, measured: dict[str, float], *, rps: float | None = None,
          p99_ms: float | None = None) -> list[Result]:  # fmt: skip
    p99_met = measured["p99_ms"] <= p99_ms if p99_ms else None
    return [
        Result(name, "requests/s", measured["rps"], "req/s",
               f">= {rps:,.0f}" if rps else "", measured["rps"] >= rps if rps else None),
        Result(name, "p50", measured["p50_ms"], "ms"),
        Result(name, "p99", measured["p99_ms"], "ms",
               f"<= {p99_ms:g}" if p99_ms else "", p99_met),
        Result(name, "errors", measured["errors"], "responses", "0", measured["errors"] == 0),
    ]  # fmt: skip


@benchmark("http")
def http_bench(context: Context) -> list[Result]:
    if shutil.which("wrk") is None:
        raise SystemExit("bench http needs wrk: apt-get install wrk (make bench does)")
    workdir = context.workdir / "http"
    workdir.mkdir()
    with postgres_database(POSTGRES_URL, "bench http") as url:
        env = _vault_env(url, workdir / "instance")
        vault = _tool("vault")
        subprocess.run([vault, "init"], env=env, check=True, capture_output=True)
        subprocess.run(
            [vault, "demo", "--customers", str(CUSTOMERS), "--seed", "11"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        tokens = dict(
            line.split()[1:3]
            for line in (workdir / "instance" / "demo-credentials.txt").read_text().splitlines()
            if line.startswith("token")
        )
        sales = {"Authorization": f"Bearer {tokens['demo-sales']}", "X-Purpose": "sales",
                 "Content-Type": "application/json"}  # fmt: skip
        vault_server = [vault, "serve", "--workers", str(WORKERS), "--threads", str(THREADS),
                        "--no-jobs", "--port", "0"]  # fmt: skip
        plain_server = [_tool("gunicorn"), "--workers", str(WORKERS), "--bind", "127.0.0.1:0",
                        "bench.plain_app:create_app()"]  # fmt: skip
        plain_env = {**os.environ, "BENCH_PLAIN_DATABASE_URL": env["VAULT_DATABASE_URL"]}
        with served_command(vault_server, env, workdir / "vault.log") as base:
            ids, emails = _sample(base, tokens["demo-sales"])
            run = {"workdir": workdir, "connections": CONNECTIONS, "seconds": SECONDS}
            measured = {
                "get": _run_wrk(url=base, scenario="get", items=ids, headers=sales, **run),
                "page": _run_wrk(url=base, scenario="page", items=[], headers=sales, **run),
                "search": _run_wrk(url=base, scenario="search", items=emails, headers=sales, **run),
                "create": _run_wrk(url=base, scenario="create", items=[], headers=sales, **run),
                "me": _run_wrk(url=base, scenario="me", items=[], headers=sales, **run),
            }  # fmt: skip
            soak = {**run, "connections": SOAK_CONNECTIONS, "seconds": SOAK_SECONDS}
            measured["soak"] = _run_wrk(url=base, scenario="get", items=ids, headers=sales, **soak)
        with served_command(plain_server, plain_env, workdir / "plain.log") as plain_base:
            measured["plain"] = _run_wrk(url=plain_base, scenario="plain", items=ids, headers={},
                                         **run)  # fmt: skip
    ratio = measured["get"]["rps"] / measured["plain"]["rps"]
    return [
        *_rows("http.governed_get", measured["get"], rps=1000, p99_ms=25),
        *_rows("http.governed_page_50", measured["page"], rps=300),
        *_rows("http.search_email", measured["search"], rps=800),
        *_rows("http.create", measured["create"], rps=300),
        *_rows("http.me_token_only", measured["me"]),
        *_rows("http.plain_flask_get", measured["plain"]),
        Result("http.governed_get", "ratio to plain", ratio, "x", ">= 0.6", ratio >= 0.6),
        *_rows("http.governed_get_50_conn", measured["soak"], p99_ms=100),
    ]
