"""``python -m bench.fuzz`` (``make fuzz``): the longer fuzz. Every operation of the OpenAPI
document with ``--examples`` generated cases each (valid and invalid, the same every run),
each sent as every shipped role with its purposes (bench.fuzzing), then the bad-input
corpus (bench.corpus), against a fresh seeded vault on each database named. Bounded: an
operation is not started once ``--seconds`` have passed on that database.

Prints a table (requests, server errors, non-problem errors, answers of a status the
document does not give the operation, answers whose body breaks the schema the document
gives for their status, other findings, seconds), records it in bench/results.json under
``fuzz``, and exits 1 on any server error, any error that is not a problem, any undocumented
status, any schema violation, any other finding, or fewer than ``--min-requests`` requests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import corpus
from bench.fuzzing import Tally, fuzz_operation, openapi_document, operations, seed
from bench.harness import Context, postgres_database, write_section
from vault.db import db
from vault.logs import configure_logging

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CORPUS = ("text", "numbers", "structure", "verbs")


@contextmanager
def database(kind: str, context: Context) -> Iterator[str | None]:
    """The database URL of a fresh vault of ``kind`` (None: SQLite, made by the context)."""
    if kind == "sqlite":
        yield None
    else:
        with postgres_database(POSTGRES_URL, "the fuzz on PostgreSQL") as url:
            yield url


def fuzz(kind: str, examples: int, seconds: float) -> dict[str, Any]:
    began = time.perf_counter()
    tally, skipped = Tally(), 0
    with tempfile.TemporaryDirectory(prefix="vault-fuzz-") as tmp:
        context = Context(Path(tmp))
        with database(kind, context) as url:
            app = context.vault_app(f"fuzz-{kind}", url, log_level="CRITICAL")
            world = seed(app)
            for operation in operations(openapi_document(app)):
                if time.perf_counter() - began > seconds:
                    skipped += 1
                    continue
                fuzz_operation(app, world, operation, max_examples=examples, tally=tally)
            corpus.send(app, world, CORPUS, tally)
            db.state(app).dispose()
    return {
        "requests": tally.requests,
        "server_errors": tally.count("server error"),
        "non_problem_errors": tally.count("not a problem"),
        "undocumented_statuses": tally.count("undocumented status"),
        "schema_violations": tally.count("schema violation"),
        "other_findings": tally.count("unexpected"),
        "operations_not_reached": skipped,
        "examples_per_operation": examples,
        "seconds": round(time.perf_counter() - began, 1),
        "findings": tally.summary(limit=30).splitlines(),
    }


def render(rows: dict[str, dict[str, Any]]) -> str:
    columns = ["database", "requests", "server errors", "non-problem errors",
               "undocumented statuses", "schema violations", "other findings",
               "operations not reached", "seconds"]  # fmt: skip
    keys = ["requests", "server_errors", "non_problem_errors", "undocumented_statuses",
            "schema_violations", "other_findings", "operations_not_reached",
            "seconds"]  # fmt: skip
    table = [columns] + [[kind] + [f"{row[k]:,}" for k in keys] for kind, row in rows.items()]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--examples", type=int, default=20, help="cases per operation")
    parser.add_argument("--seconds", type=float, default=600, help="per database")
    parser.add_argument("--min-requests", type=int, default=5000, help="per database")
    parser.add_argument("--no-record", action="store_true", help="leave results.json alone")
    args = parser.parse_args(argv)
    configure_logging("json", "CRITICAL")  # the vault's request lines would drown the table
    rows: dict[str, dict[str, Any]] = {}
    for kind in args.databases.split(","):
        sys.stdout.write(f"fuzzing on {kind} ...\n")
        sys.stdout.flush()
        rows[kind] = fuzz(kind, args.examples, args.seconds)
    sys.stdout.write(render(rows) + "\n")
    for kind, row in rows.items():
        for line in row["findings"]:
            sys.stdout.write(f"{kind}: {line}\n")
    if not args.no_record:
        write_section("fuzz", rows)
    failed = any(
        row["server_errors"] or row["non_problem_errors"] or row["undocumented_statuses"]
        or row["schema_violations"] or row["other_findings"] or row["requests"] < args.min_requests
        for row in rows.values()
    )  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
