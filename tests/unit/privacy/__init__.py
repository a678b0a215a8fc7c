"""vault.privacy: the privacy desk, its queue and its documents."""
