"""Key providers, envelope encryption, blind indexes, key rotation and crypto-shredding."""
