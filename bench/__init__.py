"""Benchmarks: `make bench` (or `python -m bench [name...]`) runs them, prints a table and
writes bench/results.json. Targets compare ratios measured in one run, because the machines
are shared and noisy."""
