"""vault.customers: the catalogue, the store and its index rows."""
