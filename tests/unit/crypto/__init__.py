"""vault.crypto: envelope encryption, blind indexes, keys and their rotation."""
