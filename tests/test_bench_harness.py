"""The bench harness keeps the rows of benchmarks it did not run."""

from __future__ import annotations

import json
from pathlib import Path

from bench.harness import Result, write


def test_running_one_benchmark_refreshes_only_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write([Result("a.one", "speed", 1.0, "x/s"), Result("b.two", "size", 2.0, "MiB")], path)
    write([Result("b.two", "size", 3.0, "MiB", "<= 4", True)], path)
    rows = json.loads(path.read_text(encoding="utf-8"))["results"]
    assert [(r["benchmark"], r["value"], r["ok"]) for r in rows] == [
        ("a.one", 1.0, None),
        ("b.two", 3.0, True),
    ]
    assert all(r["measured_at"] for r in rows)
