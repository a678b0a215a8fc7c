"""vault.access: governed access to customer data."""
