"""vault.auth: passwords, tokens and the purpose guard."""
