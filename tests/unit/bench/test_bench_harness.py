"""The bench harness keeps the rows of benchmarks it did not run."""

from __future__ import annotations

import json
from pathlib import Path

from bench.harness import Result, write, write_section


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


def test_a_section_of_its_own_and_the_rows_keep_each_other(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write([Result("a.one", "speed", 1.0, "x/s")], path)
    write_section("fuzz", {"sqlite": {"requests": 5000, "server_errors": 0}}, path)
    write([Result("a.one", "speed", 2.0, "x/s")], path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["fuzz"]["sqlite"] == {"requests": 5000, "server_errors": 0}
    assert payload["fuzz"]["measured_at"]
    assert [r["value"] for r in payload["results"]] == [2.0]
