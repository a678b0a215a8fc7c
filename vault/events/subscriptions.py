"""Subscriptions as admins manage them: a consumer system's webhook URL, the event types it
wants and the API client whose sight bounds what it learns. Its signing secret is made here,
shown once, and kept sealed under a key derived from the master key (the relay needs it to
sign, so it cannot be a hash). Each change records its audit event in the caller's
transaction; functions here flush, the caller commits."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import ipaddress
import secrets
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.crypto.notes import NoteCipher
from vault.db import UTCDateTime
from vault.errors import Conflict, NotFound, ValidationFailed
from vault.events.models import EVENT_TYPES, Delivery, Event, Subscription

SECRETS_KEY_LABEL = "vault/webhook-secrets/v1"
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "metadata.goog"})
_clients = sa.table(
    "api_clients", sa.column("id"), sa.column("name"), sa.column("revoked_at"),
    sa.column("expires_at", UTCDateTime),
)  # fmt: skip


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_link_local or address.is_multicast or address.is_unspecified


def check_receiver_url(url: str, *, allow_link_local: bool) -> str:
    """The URL of a webhook receiver, stripped. Raises ``ValidationFailed`` (field ``url``)
    unless it is http(s) with a host and no credentials, and (unless allowed) not a
    link-local or cloud metadata address."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed(errors={"url": ["is not a URL"]}) from None
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(errors={"url": ["must be an http or https URL with a host"]})
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(errors={"url": ["must not carry a user name or password"]})
    if parts.fragment:
        raise ValidationFailed(errors={"url": ["must not have a fragment"]})
    if not allow_link_local:
        host = parts.hostname.rstrip(".").lower()
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if host in METADATA_HOSTS or (literal is not None and refused_address(literal)):
            raise ValidationFailed(
                errors={"url": ["must not be a link-local or cloud metadata address"]}
            )
    return url


def receiver_allowed(host: str, port: int, *, allow_link_local: bool) -> bool:
    """Whether every address ``host`` resolves to may receive webhooks (checked again at
    delivery: a name may have come to point at a link-local address since)."""
    if allow_link_local:
        return True
    if host.rstrip(".").lower() in METADATA_HOSTS:
        return False
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return True  # the delivery itself fails, and is retried
    for *_rest, address in found:
        if refused_address(ipaddress.ip_address(str(address[0]).split("%")[0])):
            return False
    return True


def _event_types(types: Sequence[str] | None) -> str:
    chosen = sorted(set(types or ()))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if not chosen or unknown:
        raise ValidationFailed(errors={"events": [f"give one or more of {', '.join(EVENT_TYPES)}"]})
    return ",".join(chosen)


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriptionState:
    """A subscription as its list shows it: its client's name, how many deliveries wait
    (``backlog``) and have failed, and when one last went through."""

    subscription: Subscription
    client_name: str
    backlog: int
    failed: int
    last_delivered_at: dt.datetime | None


@dataclasses.dataclass
class SubscriptionDesk:
    session: Session
    context: AuditContext
    now: dt.datetime
    cipher: NoteCipher
    allow_link_local: bool = False

    def _record(self, action: str, subscription_id: str) -> None:
        record_event(self.session, self.context, action=action, outcome="allowed",
                     now=self.now, reason=subscription_id)  # fmt: skip

    def _client_id(self, client: str) -> str:
        found = self.session.execute(
            sa.select(_clients.c.id, _clients.c.revoked_at).where(
                sa.or_(_clients.c.name == client.strip(), _clients.c.id == client.strip())
            )
        ).first()
        if found is None or found.revoked_at is not None:
            raise ValidationFailed(errors={"client": ["no active API client has this name"]})
        return str(found.id)

    def create(self, *, name: str, url: str, client: str,
               events: Sequence[str]) -> tuple[Subscription, str]:  # fmt: skip
        """A new subscription and its secret (to be shown once). It hears of events from
        now on (``replay`` reaches back). Raises ``ValidationFailed`` and ``Conflict``."""
        name = name.strip()
        errors: dict[str, list[str]] = {}
        if not name:
            errors["name"] = ["must not be empty"]
        checked: dict[str, Any] = {}
        checks: tuple[tuple[str, Callable[[], Any]], ...] = (
            ("url", lambda: check_receiver_url(url, allow_link_local=self.allow_link_local)),
            ("client_id", lambda: self._client_id(client)),
            ("event_types", lambda: _event_types(events)),
        )
        for key, check in checks:
            try:
                checked[key] = check()
            except ValidationFailed as exc:
                errors.update({k: list(v) for k, v in (exc.errors or {}).items()})
        if errors:
            raise ValidationFailed("the subscription is invalid", errors=errors)
        if self.session.scalar(sa.select(Subscription.id).where(Subscription.name == name)):
            raise Conflict("a subscription has this name")
        secret = new_secret()
        subscription_id = "sub_" + secrets.token_hex(10)
        top = self.session.scalar(sa.select(sa.func.max(Event.position))) or 0
        subscription = Subscription(
            id=subscription_id, name=name, status="active", fanned_out_to=top,
            secret_ciphertext=self.cipher.seal(f"subscriptions:{subscription_id}:secret", secret),
            created_at=self.now, updated_at=self.now, **checked,
        )  # fmt: skip
        self.session.add(subscription)
        self.session.flush()
        self._record("subscription.create", subscription_id)
        return subscription, secret

    def get(self, subscription_id: str) -> Subscription:
        found = self.session.get(Subscription, subscription_id)
        if found is None:
            raise NotFound("no such subscription")
        return found

    def named(self, name: str) -> Subscription:
        """The subscription called ``name`` (the command line and the admin UI name them).
        Raises ``NotFound``."""
        query = sa.select(Subscription).where(Subscription.name == name.strip())
        found = self.session.scalar(query)
        if found is None:
            raise NotFound("no subscription has this name")
        return found

    def overview(self) -> list[SubscriptionState]:
        """Every subscription in name order with its client's name and its deliveries'
        counts (two queries, whatever the number of subscriptions)."""
        pending = sa.case((Delivery.status == "pending", 1), else_=0)
        failed = sa.case((Delivery.status == "failed", 1), else_=0)
        counts = {
            row.subscription_id: row
            for row in self.session.execute(
                sa.select(
                    Delivery.subscription_id,
                    sa.func.sum(pending).label("backlog"),
                    sa.func.sum(failed).label("failed"),
                    sa.func.max(Delivery.delivered_at).label("last_delivered_at"),
                ).group_by(Delivery.subscription_id)
            )
        }
        rows = self.session.execute(
            sa.select(Subscription, _clients.c.name)
            .join(_clients, _clients.c.id == Subscription.client_id)
            .order_by(Subscription.name)
        )
        states = []
        for subscription, client_name in rows:
            count = counts.get(subscription.id)
            states.append(SubscriptionState(
                subscription, str(client_name), int(count.backlog) if count else 0,
                int(count.failed) if count else 0, count.last_delivered_at if count else None,
            ))  # fmt: skip
        return states

    def client_names(self) -> list[str]:
        """The names of the API clients a new subscription may be bound to (neither revoked
        nor expired), in name order."""
        return list(
            self.session.scalars(
                sa.select(_clients.c.name)
                .where(
                    _clients.c.revoked_at.is_(None),
                    sa.or_(_clients.c.expires_at.is_(None), _clients.c.expires_at > self.now),
                )
                .order_by(_clients.c.name)
            )
        )

    def page(self, *, after: str | None, limit: int) -> list[Subscription]:
        query = sa.select(Subscription).order_by(Subscription.name).limit(limit)
        if after:
            query = query.where(Subscription.name > after)
        return list(self.session.scalars(query))

    def update(self, subscription_id: str, *, url: str | None = None,
               events: Sequence[str] | None = None,
               status: str | None = None) -> Subscription:  # fmt: skip
        """Change the URL, the event types, or pause (``paused``) and resume (``active``)."""
        subscription = self.get(subscription_id)
        if url is not None:
            subscription.url = check_receiver_url(url, allow_link_local=self.allow_link_local)
        if events is not None:
            subscription.event_types = _event_types(events)
        if status is not None:
            if status not in ("active", "paused"):
                raise ValidationFailed(errors={"status": ["must be active or paused"]})
            subscription.status = status
        subscription.updated_at = self.now
        self.session.flush()
        self._record("subscription.update", subscription_id)
        return subscription

    def delete(self, subscription_id: str) -> None:
        subscription = self.get(subscription_id)
        self.session.delete(subscription)
        self.session.flush()
        self._record("subscription.delete", subscription_id)

    def deliveries(self, subscription_id: str, *, before: int | None,
                   limit: int) -> list[tuple[Delivery, str, str]]:  # fmt: skip
        """The subscription's deliveries, newest first, with their event's id and type."""
        self.get(subscription_id)
        query = (
            sa.select(Delivery, Event.id, Event.type)
            .join(Event, Event.seq == Delivery.event_seq)
            .where(Delivery.subscription_id == subscription_id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(Delivery.id < before)
        return [(row[0], row[1], row[2]) for row in self.session.execute(query)]

    def replay(self, subscription_id: str, *, since: dt.datetime) -> int:
        """Send again every event since ``since`` that the subscription may hear of:
        deliveries made are attempted anew, and events from before the subscription are
        fanned out to it. Returns how many deliveries were queued again."""
        subscription = self.get(subscription_id)
        first = self.session.scalar(
            sa.select(sa.func.min(Event.position)).where(
                Event.occurred_at >= since, Event.position.is_not(None)
            )
        )
        if first is None:
            self._record("subscription.replay", subscription_id)
            return 0
        requeued = self.session.execute(
            sa.update(Delivery)
            .where(Delivery.subscription_id == subscription_id, Delivery.position >= first)
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=self.now,
                created_at=self.now,
                last_error="",
                delivered_at=None,
            )
        ).rowcount  # type: ignore[attr-defined]
        subscription.fanned_out_to = min(subscription.fanned_out_to, first - 1)
        subscription.updated_at = self.now
        self.session.flush()
        self._record("subscription.replay", subscription_id)
        return int(requeued or 0)


def last_answer(delivery: Delivery) -> str:
    """The receiver's last answer to a delivery as a log shows it: its status code and what
    was wrong (``500 http_error``, ``204``, ``timeout``), or ``-`` before any attempt."""
    parts = [str(delivery.last_status_code or ""), delivery.last_error]
    return " ".join(p for p in parts if p) or "-"


def open_secret(cipher: NoteCipher, subscription: Subscription) -> str:
    return cipher.open(f"subscriptions:{subscription.id}:secret", subscription.secret_ciphertext)


SecretOf = Callable[[Subscription], str]
