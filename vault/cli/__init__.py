"""The ``vault`` command: the group in ``base``, one module per command group beside it."""

from vault.cli import audit, data, keys, retention, serve, setup, worker
from vault.cli.accounts import tokens_group, users_group
from vault.cli.base import main
from vault.cli.subscriptions import subscriptions_group

main.add_command(users_group)
main.add_command(tokens_group)
main.add_command(subscriptions_group)

__all__ = ["audit", "data", "keys", "main", "retention", "serve", "setup", "worker"]
