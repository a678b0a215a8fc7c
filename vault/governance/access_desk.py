"""Access requests as staff, data owners and admins work them: ask for a scoped view, see the
requests one made or may decide on, approve, deny and revoke. Each call records its audit
event in the caller's transaction; a decision that is refused is recorded as a refusal
(``refuse``, which outlives the request's rollback) and its savepoint leaves nothing decided."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from vault.audit.service import AuditContext
from vault.auth.bound import CatalogueService
from vault.auth.principal import Principal
from vault.crypto.notes import NoteCipher
from vault.customers.catalogue import Catalogue
from vault.errors import VaultError
from vault.governance.access_requests import (
    create_request,
    decide,
    may_decide,
    owners,
    revoke,
    status_of,
    visible_requests,
)
from vault.governance.models import AccessRequest
from vault.governance.notes import justification_of

VERBS = ("approve", "deny", "revoke")


@dataclasses.dataclass(frozen=True)
class RequestView:
    """An access request as its reader sees it: the justification opened, the status now,
    and whether the reader may decide on it."""

    request: AccessRequest
    justification: str
    status: str
    decidable: bool


class AccessDesk(CatalogueService[Catalogue]):
    """The access requests ``principal`` made or may decide on."""

    def __init__(
        self, session: Session, context: AuditContext, principal: Principal, *,
        now: dt.datetime, catalogue: Callable[[], Catalogue], notes: Callable[[], NoteCipher],
        refuse: Callable[..., None],
    ) -> None:  # fmt: skip
        super().__init__(session, context, principal, now=now, catalogue=catalogue)
        self._notes, self._refuse = notes, refuse

    def _view(self, request: AccessRequest, owner_map: dict[str, str] | None = None) -> RequestView:
        owner_map = owners(self.session) if owner_map is None else owner_map
        return RequestView(request, justification_of(request, self._notes()),
                           status_of(request, self.now),
                           may_decide(request, self.principal, owner_map, self.now))  # fmt: skip

    def visible(self) -> list[RequestView]:
        """The principal's requests and those covering categories it owns (all of them for
        admins and compliance officers), newest first."""
        found = visible_requests(self.session, self.principal)
        owner_map = owners(self.session)
        self.record("access_request.read")
        return [self._view(r, owner_map) for r in found]

    def create(
        self, *, purpose: str, fields: Sequence[str], categories: Sequence[str],
        customer_ids: Sequence[str], region: str, justification: str, duration_days: int,
    ) -> RequestView:  # fmt: skip
        """Ask for a scoped view; ``ValidationFailed`` for a request for nothing, for ever,
        or covering a category without an owner."""
        with self.session.begin_nested():
            request = create_request(
                self.session, self._catalogue(), self.principal, purpose=purpose,
                fields=fields, categories=categories, customer_ids=customer_ids, region=region,
                justification=justification, duration_days=duration_days, now=self.now,
                notes=self._notes(),
            )  # fmt: skip
            self.record("access_request.create", customer_ids=request.customer_ids.split(),
                        field_names=request.fields.split(), reason=request.id)  # fmt: skip
        return self._view(request)

    def decide(self, request_id: str, verb: str) -> RequestView:
        """``approve``, ``deny`` or ``revoke`` the request; a refusal is recorded and raised."""
        assert verb in VERBS
        try:
            with self.session.begin_nested():
                if verb == "revoke":
                    request = revoke(self.session, request_id, self.principal, now=self.now)
                else:
                    request = decide(self.session, request_id, self.principal,
                                     approve=verb == "approve", now=self.now)  # fmt: skip
        except VaultError as exc:
            self._refuse(getattr(exc, "reason", "") or exc.code,
                         action=f"access_request.{verb}", customer_ids=())  # fmt: skip
            raise
        self.record(f"access_request.{verb}", field_names=request.fields.split(),
                    reason=request.id)  # fmt: skip
        return self._view(request)
