"""vault.policies: roles, rules and the plans built from them."""
