"""vault.audit: the hash chain, seals, the anchor and verification."""
