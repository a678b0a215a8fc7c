"""What `vault init` ships: roles, purposes and which purposes each role may state."""

from __future__ import annotations

ROLES: dict[str, str] = {
    "admin": "Users, roles, policies, catalogue, ownership, retention; no customer values.",
    "compliance_officer": "Audit trail, privacy-request queue, legal holds; no customer values.",
    "data_owner": "Owns data categories and approves access requests to them.",
    "sales": "Creates and reads customers for sales.",
    "marketing": "Reads names, email and interests of consenting customers for marketing.",
    "support": "Reads contact data and support interactions for support.",
    "staff": "Nothing until an access request is approved.",
}

# code -> (legal basis, description)
PURPOSES: dict[str, tuple[str, str]] = {
    "sales": ("contract", "Selling to and serving the customer under their contract."),
    "support": ("contract", "Answering the customer's support requests."),
    "marketing": ("consent", "Marketing messages, only to customers who consented."),
    "analytics": ("legitimate_interest", "Aggregate, pseudonymised analysis."),
    "billing": ("legal_obligation", "Invoicing and bookkeeping required by law."),
}

# The purposes each role's members may state in X-Purpose. Access grants add to these.
ROLE_PURPOSES: dict[str, tuple[str, ...]] = {
    "admin": (),
    "compliance_officer": (),
    "data_owner": (),
    "sales": ("sales",),
    "marketing": ("marketing",),
    "support": ("support",),
    "staff": (),
}
