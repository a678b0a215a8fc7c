"""python -m bench [name...]: run the named benchmarks (all by default)."""

from __future__ import annotations

import sys

from bench import audit, events, foundation, http, policies, privacy, records, retention  # noqa: F401  (each registers its benchmarks)
from bench.harness import RESULTS_FILE, render, run, write


def main(argv: list[str]) -> int:
    results = run(argv)
    sys.stdout.write(render(results) + "\n")
    write(results)
    sys.stdout.write(f"\nwritten to {RESULTS_FILE}\n")
    return 1 if any(r.ok is False for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
