"""``VaultClient``: the vault's HTTP API (``/api/v1``) for a consumer system."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from vault_client.errors import VaultError, error_for
from vault_client.models import BatchItem, Customer, Event

# Answers a retry may cure: the vault or something before it was busy or away.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_MAX_WAIT = 30.0  # seconds, whatever Retry-After says


class VaultClient:
    """A client of one vault for one API token. ``purpose`` is the default purpose of use of
    the customer calls (each call may give its own). Reads and creates are retried up to
    ``max_retries`` times on a connection failure or a 429/502/503/504, waiting
    ``backoff`` seconds doubled each time (with jitter) or what ``Retry-After`` asks; a
    create sends one ``Idempotency-Key`` for all its attempts, so a retry never makes a
    second record. Use it as a context manager, or call ``close``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        purpose: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.purpose = purpose
        self.max_retries = max_retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    # --- plumbing --------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()

    def _purpose(self, purpose: str | None) -> dict[str, str]:
        chosen = purpose or self.purpose
        if not chosen:
            raise ValueError("this call reads or changes customer data: give a purpose")
        return {"X-Purpose": chosen}

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = False,
    ) -> httpx.Response:
        """Send a request to ``/api/v1{path}``; the answer when it succeeded, otherwise the
        error's ``VaultError``. With ``retry``, failures a retry may cure are retried (see
        the class)."""
        attempts = 1 + (self.max_retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, path, json=json, params=params,
                                              headers=dict(headers or {}))  # fmt: skip
            except httpx.TransportError:
                if last:
                    raise
                self._wait(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._wait(attempt, response.headers.get("Retry-After"))
                continue
            if response.is_error:
                raise _error_of(response)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * 2**attempt * (0.5 + random.random())  # noqa: S311  (jitter)
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, _MAX_WAIT))

    def _pages(self, path: str, params: dict[str, Any], headers: Mapping[str, str],
               cursor_param: str = "cursor") -> Iterator[dict[str, Any]]:  # fmt: skip
        """The items of every page of a listing, following ``next_cursor``."""
        while True:
            body = self.request("GET", path, params=params, headers=headers, retry=True).json()
            yield from body["items"]
            cursor = body.get("next_cursor")
            if not cursor or not body["items"] or body.get("has_more") is False:
                return
            params = {**params, cursor_param: cursor}

    # --- who am I --------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The calling client: name, role, purposes, regions."""
        found: dict[str, Any] = self.request("GET", "/me", retry=True).json()
        return found

    # --- customers -------------------------------------------------------------------------

    def create_customer(
        self,
        fields: Mapping[str, Any],
        *,
        region: str,
        consents: Iterable[Mapping[str, Any]] = (),
        purpose: str | None = None,
        idempotency_key: str | None = None,
    ) -> Customer:
        """Create a customer; its view for the purpose. A duplicate raises ``Conflict``."""
        body = {"fields": dict(fields), "region": region, "consents": [dict(c) for c in consents]}
        headers = {**self._purpose(purpose), "Idempotency-Key": idempotency_key or _new_key()}
        response = self.request("POST", "/customers", json=body, headers=headers, retry=True)
        return Customer.from_body(response.json())

    def get_customer(self, customer_id: str, *, purpose: str | None = None) -> Customer:
        """The customer's view for the purpose, with its ``etag``; ``NotFound`` when the
        caller may not see it (or there is no such customer)."""
        response = self.request("GET", f"/customers/{_id(customer_id)}",
                                headers=self._purpose(purpose), retry=True)  # fmt: skip
        return Customer.from_body(response.json(), etag=response.headers.get("ETag"))

    def update_customer(
        self,
        customer_id: str,
        fields: Mapping[str, Any],
        *,
        if_match: str | None = None,
        purpose: str | None = None,
    ) -> Customer:
        """Change fields (``None`` removes one). With ``if_match`` (an ``etag``), only if
        nobody changed the customer since: ``PreconditionFailed`` otherwise. Not retried:
        send it again with the ``etag`` of a new read."""
        headers = self._purpose(purpose)
        if if_match:
            headers["If-Match"] = if_match
        response = self.request("PATCH", f"/customers/{_id(customer_id)}",
                                json={"fields": dict(fields)}, headers=headers)  # fmt: skip
        return Customer.from_body(response.json(), etag=response.headers.get("ETag"))

    def customers(self, *, purpose: str | None = None, page_size: int = 100) -> Iterator[Customer]:
        """Every customer the caller may see for the purpose, oldest first, page by page."""
        for body in self._pages("/customers", {"limit": page_size}, self._purpose(purpose)):
            yield Customer.from_body(body)

    def search_customers(
        self, *, email: str | None = None, phone: str | None = None, purpose: str | None = None
    ) -> list[Customer]:
        """The customers whose email (or phone) is exactly this, as the caller may see them."""
        if (email is None) == (phone is None):
            raise ValueError("give exactly one of email or phone")
        body = {"email": email} if email is not None else {"phone": phone}
        response = self.request("POST", "/customers/search", json=body,
                                headers=self._purpose(purpose), retry=True)  # fmt: skip
        return [Customer.from_body(item) for item in response.json()["items"]]

    def create_customers(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        purpose: str | None = None,
        idempotency_key: str | None = None,
    ) -> list[BatchItem]:
        """Create up to 500 customers (each ``{"fields", "region", "consents"?}``), each
        alone: one ``BatchItem`` per item, in order, with its customer or its error."""
        headers = {**self._purpose(purpose), "Idempotency-Key": idempotency_key or _new_key()}
        body = {"items": [dict(item) for item in items]}
        response = self.request("POST", "/customers/batch", json=body, headers=headers,
                                retry=True)  # fmt: skip
        return [BatchItem.from_body(item) for item in response.json()["items"]]

    def lookup_customers(self, ids: Sequence[str], *, purpose: str | None = None) -> list[Customer]:
        """The views of those of ``ids`` (up to 500) the caller may see, in the order given;
        the others are absent."""
        response = self.request("POST", "/customers/lookup", json={"ids": list(ids)},
                                headers=self._purpose(purpose), retry=True)  # fmt: skip
        return [Customer.from_body(item) for item in response.json()["items"]]

    def consents(self, customer_id: str, *, purpose: str | None = None) -> dict[str, Any]:
        """The customer's consent state per purpose, with its history."""
        found: dict[str, Any] = self.request(
            "GET", f"/customers/{_id(customer_id)}/consents", headers=self._purpose(purpose),
            retry=True,
        ).json()  # fmt: skip
        return found

    def record_consent(
        self,
        customer_id: str,
        consent_purpose: str,
        *,
        granted: bool,
        source: str = "api",
        notice_version: str | None = None,
        purpose: str | None = None,
    ) -> dict[str, Any]:
        """Record that the customer granted or withdrew consent to ``consent_purpose``."""
        body: dict[str, Any] = {"purpose": consent_purpose, "granted": granted, "source": source}
        if notice_version is not None:
            body["notice_version"] = notice_version
        headers = {**self._purpose(purpose), "Idempotency-Key": _new_key()}
        found: dict[str, Any] = self.request(
            "POST", f"/customers/{_id(customer_id)}/consents", json=body, headers=headers,
            retry=True,
        ).json()  # fmt: skip
        return found

    # --- events ----------------------------------------------------------------------------

    def events(self, *, after: str | None = None, page_size: int = 100) -> Iterator[Event]:
        """The events this client may hear of, oldest first, after the cursor ``after``, up
        to the newest (poll again later from the last event's cursor: ``feed_page``)."""
        params: dict[str, Any] = {"limit": page_size}
        if after:
            params["after"] = after
        for body in self._pages("/events", params, {}, cursor_param="after"):
            yield Event.from_body(body)

    def feed_page(self, *, after: str | None = None, limit: int = 100) -> tuple[list[Event], str]:
        """One page of the feed and the cursor to go on from (also when nothing was new)."""
        params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
        body = self.request("GET", "/events", params=params, retry=True).json()
        return [Event.from_body(item) for item in body["items"]], str(body["next_cursor"])

    def ack_event(self, event_id: str) -> dict[str, Any]:
        """Acknowledge an event (e.g. an erasure: your copy is gone)."""
        found: dict[str, Any] = self.request(
            "POST", f"/events/{_id(event_id)}/ack", retry=True
        ).json()
        return found

    # --- governance (compliance officers, admins) -------------------------------------------

    def audit_events(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """The audit events matching ``filters`` (actor, customer, action, purpose, outcome,
        since, until), page by page."""
        yield from self._pages("/audit/events", {"limit": 500, **filters}, {})


def _new_key() -> str:
    return str(uuid.uuid4())


def _id(value: str) -> str:
    """An id as a path segment: ids are opaque, but never a path of their own."""
    if not value or "/" in value or value in (".", ".."):
        raise ValueError("not an id")
    return value


def _error_of(response: httpx.Response) -> VaultError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return error_for(response.status_code, body)
