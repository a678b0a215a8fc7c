"""What the menu offers each person: the pages their roles may use, and no others. Which
roles a page is for is decided by the services behind it (a page refuses the others with a
403); this table follows them, and ``tests/admin_ui/test_navigation.py`` holds the two
together by visiting every link as every shipped role."""

from __future__ import annotations

import dataclasses

from flask import request, url_for

from vault.auth.principal import Principal

EVERYONE: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """A page of the menu: its endpoint, its label, the roles it is for (``EVERYONE``: any
    signed-in person) and whether it needs a purpose the person may state."""

    endpoint: str
    label: str
    roles: frozenset[str] = EVERYONE
    needs_purposes: bool = False

    def open_to(self, principal: Principal) -> bool:
        if self.needs_purposes and not principal.purposes:
            return False
        return not self.roles or principal.has_role(*self.roles)


PAGES: tuple[Page, ...] = (
    Page("admin.customers", "Customers", needs_purposes=True),
    Page("admin.access_requests", "Access requests"),
    Page("admin.privacy_requests", "Privacy requests", frozenset({"compliance_officer"})),
    Page("admin.audit_log", "Audit log", frozenset({"admin", "compliance_officer"})),
    Page("admin.retention", "Retention", frozenset({"admin", "compliance_officer"})),
    Page("admin.fields", "Fields"),
    Page("admin.purposes", "Purposes"),
    Page("admin.policies", "Policies", frozenset({"admin"})),
    Page("admin.subscriptions", "Subscriptions", frozenset({"admin"})),
    Page("admin.api_clients", "API clients", frozenset({"admin"})),
    Page("admin.users", "Users", frozenset({"admin"})),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    """A menu entry as the template shows it."""

    url: str
    label: str
    current: bool


def menu_for(principal: Principal) -> list[Link]:
    """The menu of ``principal``: the pages open to it, the one being shown marked."""
    return [
        Link(url_for(page.endpoint), page.label, request.endpoint == page.endpoint)
        for page in PAGES
        if page.open_to(principal)
    ]
