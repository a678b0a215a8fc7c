"""Tests of one part of the vault at a time, in folders named after the package under vault/
each exercises (core: vault's top-level modules; bench: the bench harness)."""
