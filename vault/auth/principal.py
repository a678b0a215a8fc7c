"""The ``Principal``: who is calling, in which roles, for which purposes. Every layer below
the HTTP layer receives one instead of reading the request."""

from __future__ import annotations

import dataclasses
from typing import Literal

from vault.errors import Forbidden, PurposeNotAllowed, PurposeRequired, quoted

PrincipalKind = Literal["user", "client"]


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: str
    name: str
    roles: frozenset[str]
    purposes: frozenset[str]
    regions: frozenset[str] | None = None  # None: every region

    def has_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)

    def require_role(self, *roles: str, because: str) -> str:
        """This principal's id when it holds one of ``roles``; otherwise ``Forbidden`` (403)
        saying ``because``. The one role check of every door and service."""
        if self.roles.isdisjoint(roles):
            raise Forbidden(because)
        return self.id

    def require_purpose(self, purpose: str | None) -> str:
        """The purpose this request is made for, once checked against what the principal may
        state. Raises ``PurposeRequired`` (400) or ``PurposeNotAllowed`` (403)."""
        purpose = (purpose or "").strip()
        if not purpose:
            raise PurposeRequired("this request reads or changes customer data: send X-Purpose")
        if purpose not in self.purposes:
            raise PurposeNotAllowed(f"the purpose {quoted(purpose)} is not allowed for this caller")
        return purpose
