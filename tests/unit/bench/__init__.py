"""bench/: the benchmark harness."""
