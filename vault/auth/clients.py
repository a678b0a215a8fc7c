"""API clients as admins manage them: the list (revoked ones included), new clients with their
token shown once, and revocation, which the next request of the token meets in every worker
(it replaces the clients' change stamp, under which each process keeps tokens' principals:
``vault.auth.token_cache``). Each change records its audit event in the caller's
transaction; functions here flush, the caller commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Required, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.auth.bound import BoundService
from vault.auth.models import ApiClient
from vault.auth.service import create_api_client, revoke_api_client
from vault.errors import NotFound, or_not_found


class NewClient(TypedDict, total=False):
    """What a new API client is made of: ``create_api_client``'s arguments but the session
    and the time."""

    name: Required[str]
    role: Required[str]
    purposes: Sequence[str]
    expires_days: int | None
    regions: Sequence[str]


def list_clients(
    session: Session, *, after: str | None = None, limit: int | None = None
) -> list[ApiClient]:
    """API clients in name order (those after the name ``after``; at most ``limit``)."""
    query = sa.select(ApiClient).order_by(ApiClient.name)
    if after:
        query = query.where(ApiClient.name > after)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def client_id_for_name(session: Session, name: str) -> str:
    """The id of the API client with this name; raises ``NotFound``."""
    client_id = session.scalar(sa.select(ApiClient.id).where(ApiClient.name == name.strip()))
    return or_not_found(client_id, "no API client has this name")


def register_client(
    session: Session, context: AuditContext, *, now: dt.datetime, **client: Unpack[NewClient]
) -> tuple[ApiClient, str]:
    """Create an API client (``create_api_client``) and record ``client.create``. Returns
    the client and its token, to be shown once. Raises what ``create_api_client`` raises."""
    created, token = create_api_client(session, now=now, **client)
    record_event(session, context, action="client.create", outcome="allowed", now=now,
                 reason=created.id)  # fmt: skip
    return created, token


def revoke_client(
    session: Session, client_id: str, context: AuditContext, *, now: dt.datetime
) -> ApiClient:
    """Revoke an API client's token for good (it stays listed) and record ``client.revoke``;
    revoking twice keeps the first time. Raises ``NotFound``."""
    if session.get(ApiClient, client_id) is None:
        raise NotFound("no such API client")
    client = revoke_api_client(session, client_id, now=now)
    record_event(session, context, action="client.revoke", outcome="allowed", now=now,
                 reason=client.id)  # fmt: skip
    return client


class ClientDirectory(BoundService):
    """API clients as admins manage them from the API: every call checks that ``principal``
    is an admin (``Forbidden`` otherwise) and records its audit event under ``context``."""

    ADMINS_ONLY = "API clients are managed by admins"

    def _admin(self) -> None:
        self.principal.require_role("admin", because=self.ADMINS_ONLY)

    def page(self, *, after: str | None, limit: int) -> list[ApiClient]:
        """Clients in name order after ``after``, at most ``limit`` (``client.read``)."""
        self._admin()
        clients = list_clients(self.session, after=after, limit=limit)
        record_event(self.session, self.context, action="client.read", outcome="allowed",
                     now=self.now)  # fmt: skip
        return clients

    def get(self, client_id: str) -> ApiClient:
        """One client; raises ``NotFound``."""
        self._admin()
        return or_not_found(self.session.get(ApiClient, client_id), "no such API client")

    def register(self, **client: Unpack[NewClient]) -> tuple[ApiClient, str]:
        """A new client and its token, to be shown once (``register_client``)."""
        self._admin()
        return register_client(self.session, self.context, now=self.now, **client)

    def revoke(self, client_id: str) -> ApiClient:
        """Revoke the client's token for good (``revoke_client``)."""
        self._admin()
        return revoke_client(self.session, client_id, self.context, now=self.now)
