"""vault.governance: retention, erasure and legal holds."""
