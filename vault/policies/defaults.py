"""The shipped policies: least privilege per role (API.md §2).

- sales creates and reads customers for ``sales``: names, contact and profile in clear, the
  birth year only, ``national_id`` as its last four characters; it may set every field, and
  records when the customer relationship ends (the contract is sales' business);
- support reads names and contact data and the support interactions for ``support``, and may
  correct contact data (not end the relationship);
- marketing reads names, email and interests for ``marketing`` (consenting customers only:
  the purpose's legal basis is consent);
- admin, compliance_officer, data_owner and staff see no customer values (staff until an
  access request is granted). Nobody sees ``national_id`` in clear.
"""

from __future__ import annotations

# (role, object, purpose, action, effect, transform)
Rule = tuple[str, str, str, str, str, str]

SHIPPED_RULES: tuple[Rule, ...] = (
    # sales
    ("sales", "category:identity", "sales", "read", "allow", ""),
    ("sales", "category:contact", "sales", "read", "allow", ""),
    ("sales", "category:profile", "sales", "read", "allow", ""),
    ("sales", "birth_date", "sales", "read", "allow", "year"),
    ("sales", "national_id", "sales", "read", "allow", "last4"),
    ("sales", "category:identity", "sales", "create", "allow", ""),
    ("sales", "category:contact", "sales", "create", "allow", ""),
    ("sales", "category:profile", "sales", "create", "allow", ""),
    ("sales", "category:demographic", "sales", "create", "allow", ""),
    ("sales", "category:sensitive", "sales", "create", "allow", ""),
    ("sales", "category:identity", "sales", "write", "allow", ""),
    ("sales", "category:contact", "sales", "write", "allow", ""),
    ("sales", "category:profile", "sales", "write", "allow", ""),
    ("sales", "interactions:purchase", "sales", "read", "allow", ""),
    ("sales", "interactions:purchase", "sales", "write", "allow", ""),
    ("sales", "interactions:call", "sales", "write", "allow", ""),
    ("sales", "relationship", "sales", "write", "allow", ""),
    # support
    ("support", "category:identity", "support", "read", "allow", ""),
    ("support", "category:contact", "support", "read", "allow", ""),
    ("support", "category:contact", "support", "write", "allow", ""),
    ("support", "interactions:support_ticket", "support", "read", "allow", ""),
    ("support", "interactions:support_ticket", "support", "write", "allow", ""),
    ("support", "interactions:email", "support", "read", "allow", ""),
    ("support", "interactions:call", "support", "read", "allow", ""),
    ("support", "interactions:call", "support", "write", "allow", ""),
    # marketing
    ("marketing", "given_name", "marketing", "read", "allow", ""),
    ("marketing", "family_name", "marketing", "read", "allow", ""),
    ("marketing", "email", "marketing", "read", "allow", ""),
    ("marketing", "interests", "marketing", "read", "allow", ""),
    ("marketing", "interactions:survey", "marketing", "read", "allow", ""),
    # nobody reads national_id in clear under any shipped rule: the only rule naming it masks
)

# The rules each release added to the shipped set after the first (``SHIPPED_RULES`` holds them
# too). `vault init` adds a release's rules once to a policy store seeded before it, and notes
# the release it has seeded, so that a rule an admin removed later stays removed.
ADDED_RULES: dict[int, tuple[Rule, ...]] = {
    2: (("sales", "relationship", "sales", "write", "allow", ""),),
}
SHIPPED_VERSION = max(ADDED_RULES)
