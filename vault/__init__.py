"""Vault: a privacy-focused customer data vault."""
