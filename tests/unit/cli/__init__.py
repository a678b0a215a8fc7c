"""vault.cli: the `vault` command."""
