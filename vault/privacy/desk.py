"""Data-subject requests: export (GDPR Art. 15) and erasure (Art. 17).

A customer asks through the portal with an e-mail address; a one-time code goes to that
address when it belongs to a customer, and nothing goes anywhere when it does not, yet both
requests look and behave the same from outside (no account enumeration). The code is kept
as a keyed hash, expires, and five wrong codes lock the request. Once verified, an export
gets a one-time download link valid seven days (the ZIP is built as it streams, see
``vault.privacy.export``) and an erasure destroys the customer's data key and
data, unless a legal hold forbids it, and ends with a signed deletion certificate.

Staff (compliance officers) see the queue with due dates (received + 30 days, extendable
once by two months with a reason, Art. 12(3)) and may file a request for a customer who
asked by phone or letter, recording how they checked the requester's identity.

Every step is audited. Nothing here keeps an e-mail address: only a keyed digest of it, for
the per-address rate limit, which is cleared after a day and on erasure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from vault.audit.service import AuditContext, record_event
from vault.customers.catalogue import normalise_search_input
from vault.customers.models import BlindIndexEntry, Interaction
from vault.customers.service import CustomerStore
from vault.errors import Conflict, NotFound, RateLimited, ValidationFailed, or_not_found
from vault.events.notices import Notices
from vault.governance.erasure import (
    erase_customers,
    lock_erasable,
    privacy_request_ids,
    stored_field_names,
)
from vault.governance.models import (
    FILED_REQUEST_TYPES,
    IDENTITY_CHECKS,
    PRIVACY_CHANNELS,
    PRIVACY_REQUEST_TYPES,
    ConsentEvent,
    PrivacyRequest,
)
from vault.privacy.documents import (
    Organisation,
    certificate_as_of,
    code_message,
    deletion_certificate,
    download_message,
)
from vault.privacy.outcomes import Outgoing, Verification, digest_token
from vault.privacy.withdrawal import WITHDRAW, named_purposes, withdraw_consents

CODE_DIGITS = 8
CODE_TTL = dt.timedelta(minutes=30)
MAX_CODE_ATTEMPTS = 5
DOWNLOAD_TTL = dt.timedelta(days=7)
RESPONSE_TIME = dt.timedelta(days=30)
EXTENSION = dt.timedelta(days=60)  # "by two further months", once
ADDRESS_WINDOW = dt.timedelta(hours=1)
ADDRESS_DIGEST_KEPT = dt.timedelta(days=1)
UNVERIFIED_KEPT = dt.timedelta(days=7)
UNNAMED = Organisation()  # the default signature: the vault's name alone
OPEN_STATUSES = ("pending_verification", "verified", "processing")
CODE_KEY_LABEL = "vault privacy codes v1"
ADDRESS_KEY_LABEL = "vault privacy address limit v1"
DOWNLOAD_PATH = "/privacy/downloads/"
REQUEST_PATH = "/privacy/requests/"


class PrivacyDesk:
    """The requests' state machine over one unit of work (the caller commits)."""

    def __init__(
        self, store: CustomerStore, context: AuditContext, *, base_url: str = "",
        per_address_limit: int = 5, language: str = "en",
        organisation: Organisation = UNNAMED,
    ) -> None:  # fmt: skip
        """``base_url`` makes the links in messages absolute; ``per_address_limit`` is how
        many requests one address may make per hour; ``language`` is the one messages are
        written in (``vault.languages``), ``organisation`` who signs them."""
        self.language = language
        self.organisation = organisation
        self.store = store
        self.session = store.session
        self.context = context
        self.now = store.now
        self.base_url = base_url.rstrip("/")
        self.per_address_limit = per_address_limit
        # The references of the mail kept about the privacy requests of customers this desk
        # erased: the caller deletes it once the erasure has committed.
        self.erased_mail: list[str] = []

    def _signature(self) -> str:
        return "\n" + self.organisation.signature(self.language)

    @property
    def erased(self) -> bool:
        """Whether this desk erased a customer (the caller then finishes the erasure)."""
        return bool(self.erased_mail)

    def certificate_as_of(self, stored: str, notices: Notices) -> dict[str, Any]:
        """An erasure's certificate with the systems told of it (``certificate_as_of``)."""
        recipients = [n.as_dict() for n in notices.notices]
        return certificate_as_of(self.store, stored, recipients, now=self.now)

    # --- the portal --------------------------------------------------------------------

    def submit(
        self, email: str, kind: str, purposes: Sequence[str] = ()
    ) -> tuple[PrivacyRequest, Outgoing | None]:
        """Receive a portal request (``purposes``: those whose consent a ``withdraw_consent``
        withdraws). Raises ``ValidationFailed`` (type, purposes, malformed address) and
        ``RateLimited`` (too many requests for this address). Whether the address belongs to
        a customer changes only whether a message goes out."""
        if kind not in PRIVACY_REQUEST_TYPES:
            kinds = ", ".join(PRIVACY_REQUEST_TYPES)
            raise ValidationFailed(errors={"type": [f"must be one of {kinds}"]})
        withdrawn = named_purposes(self.session, kind, purposes)
        found = self.store.search("email", email)  # validates and normalises the address
        address = self._address_digest(email)
        recent = self.session.scalar(
            sa.select(sa.func.count())
            .select_from(PrivacyRequest)
            .where(
                PrivacyRequest.address_digest == address,
                PrivacyRequest.received_at > self.now - ADDRESS_WINDOW,
            )
        )
        if (recent or 0) >= self.per_address_limit:
            raise RateLimited("too many requests for this address; try again in an hour")
        request = self._new_request(kind, "portal", found[0] if found else None)
        request.purposes = " ".join(withdrawn)
        request.address_digest = address
        request.identity_check = "email_code"
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        # An unknown address gets a code too (never sent), so both paths do the same work.
        request.code_digest = self._code_digest(request.id, code)
        request.code_expires_at = self.now + CODE_TTL
        self.session.add(request)
        self.session.flush()
        self.audit("privacy.request", request, reason=kind)
        if request.customer_id is None:
            return request, None
        page = self.base_url + REQUEST_PATH + request.id
        minutes = int(CODE_TTL.total_seconds() // 60)
        subject, body = code_message(kind, code, minutes, page, self.language)
        return request, Outgoing(email.strip(), subject, body + self._signature())

    def verify(self, request_id: str, code: str) -> Verification:
        """Check a code. A wrong or expired one counts against the request (five lock it);
        the right one releases the export or carries out the erasure. Raises ``NotFound``
        and ``Conflict`` when the request was verified already. The caller commits even
        when ``accepted`` is false: the failed attempt and its audit event must count."""
        request = self._locked(request_id)
        if request.status == "locked":
            self.audit("privacy.verify", request, outcome="denied", reason="locked")
            return Verification(request, accepted=False, refusal="locked")
        if request.status != "pending_verification":
            raise Conflict("this request has been verified already", code="already_verified")
        expected = request.code_digest or b""
        offered = self._code_digest(request.id, code.strip())
        fresh = request.code_expires_at is not None and self.now <= request.code_expires_at
        if not (hmac.compare_digest(expected, offered) and fresh and request.customer_id):
            request.failed_attempts += 1
            reason = "wrong_code" if fresh else "expired_code"
            if request.failed_attempts >= MAX_CODE_ATTEMPTS:
                request.status, request.reason, request.code_digest = (
                    "locked",
                    "too_many_codes",
                    None,
                )
                reason = "locked_now"
            self.session.flush()
            self.audit("privacy.verify", request, outcome="denied", reason=reason)
            return Verification(request, accepted=False, refusal=reason)
        request.code_digest, request.code_expires_at = None, None
        request.status, request.verified_at = "verified", self.now
        self.audit("privacy.verify", request)
        return Verification(request, accepted=True, download_url=self._proceed(request))

    def open_download(self, token: str) -> PrivacyRequest | None:
        """Spend a download link: the export it names may be streamed once. None when the
        link was used, has expired or its customer is gone (the refusal is audited: commit,
        then answer ``LinkGone``). Raises ``NotFound`` (no such link)."""
        request = self.session.scalar(
            sa.select(PrivacyRequest)
            .where(PrivacyRequest.download_digest == digest_token(token))
            .with_for_update()
        )
        if request is None or request.customer_id is None:
            raise NotFound("no such download")
        expires = request.download_expires_at
        if request.downloaded_at is not None or expires is None or self.now > expires:
            self.audit("privacy.download", request, outcome="denied", reason="link_gone")
            return None
        if not self.store.exists(request.customer_id):
            self.audit("privacy.download", request, outcome="denied", reason="no_data")
            return None
        request.downloaded_at = self.now
        names = stored_field_names(self.session, [request.customer_id])
        self.audit("privacy.download", request, field_names=names)
        return request

    # --- staff -------------------------------------------------------------------------

    def file(
        self, kind: str, customer_id: str, *, channel: str, identity_check: str, by: str
    ) -> tuple[PrivacyRequest, Outgoing | None]:
        """File a request a customer made by phone, letter... after staff checked who they
        are; it proceeds at once. An export's link goes to the address on file. Raises
        ``ValidationFailed`` and ``NotFound``."""
        errors: dict[str, list[str]] = {}
        if kind not in FILED_REQUEST_TYPES:
            errors["type"] = ["must be export or erasure"]
        if channel not in PRIVACY_CHANNELS or channel == "portal":
            errors["channel"] = [f"must be one of {', '.join(PRIVACY_CHANNELS[1:])}"]
        if identity_check not in IDENTITY_CHECKS or identity_check == "email_code":
            errors["identity_check"] = [f"must be one of {', '.join(IDENTITY_CHECKS[1:])}"]
        if errors:
            raise ValidationFailed("the request is invalid", errors=errors)
        email = None
        if kind == "export":
            email = self.store.read_one(customer_id, ["email"]).values.get("email")
            if not email:
                raise ValidationFailed(
                    errors={"customer_id": ["has no e-mail address to send the export to"]}
                )
        elif not self.store.exists(customer_id):
            raise NotFound("no such customer")
        request = self._new_request(kind, channel, customer_id)
        request.identity_check, request.filed_by = identity_check, by
        request.status, request.verified_at = "verified", self.now
        self.session.add(request)
        self.session.flush()
        self.audit("privacy_request.file", request, reason=identity_check)
        url = self._proceed(request)
        if url is None or email is None:
            return request, None
        subject, body = download_message(self.base_url + url, self.language)
        return request, Outgoing(email, subject, body + self._signature())

    def extend(self, request_id: str, *, reason: str, by: str) -> PrivacyRequest:
        """Extend the due date once by two months (Art. 12(3)), with the reason given to
        the customer. Raises ``NotFound``, ``ValidationFailed`` and ``Conflict``."""
        reason = reason.strip()
        if not 5 <= len(reason) <= 500:
            raise ValidationFailed(errors={"reason": ["give a reason of 5 to 500 characters"]})
        request = self._locked(request_id)
        if request.extended_at is not None:
            raise Conflict("a request's due date can be extended only once", code="extended")
        if request.status not in OPEN_STATUSES:
            raise Conflict("this request is closed", code="request_closed")
        request.due_at += EXTENSION
        request.extended_at, request.extended_by, request.extension_reason = self.now, by, reason
        self.session.flush()
        self.audit("privacy_request.extend", request)
        return request

    # --- inside ------------------------------------------------------------------------

    def _proceed(self, request: PrivacyRequest) -> str | None:
        """Carry out a verified request; returns an export's download path."""
        if request.type == "erasure":
            self._erase(request)
            return None
        assert request.customer_id is not None
        if not self.store.exists(request.customer_id):
            request.status, request.reason, request.completed_at = "rejected", "no_data", self.now
            return None
        if request.type == WITHDRAW:  # at once (GDPR Art. 7(3))
            withdraw_consents(self.store, request.customer_id, request.purposes.split(),
                              request_id=request.id)  # fmt: skip
            request.status, request.completed_at = "completed", self.now
            self.session.flush()
            self.audit("privacy.withdraw_consent", request, reason=request.purposes[:64])
            return None
        token = secrets.token_urlsafe(32)
        request.download_digest = digest_token(token)
        request.download_expires_at = self.now + DOWNLOAD_TTL
        request.status, request.completed_at = "completed", self.now
        self.session.flush()
        self.audit("privacy.export", request)
        return DOWNLOAD_PATH + token

    def _erase(self, request: PrivacyRequest) -> None:
        assert request.customer_id is not None
        customer_id = request.customer_id
        request.status = "processing"
        erasable = lock_erasable(self.session, [customer_id])
        if erasable.held:
            request.status, request.reason, request.completed_at = (
                "rejected",
                "legal_hold",
                self.now,
            )
            self.audit("privacy.erase", request, outcome="denied", reason="legal_hold")
            return
        if not erasable.free:
            request.status, request.reason, request.completed_at = "rejected", "no_data", self.now
            return
        names = stored_field_names(self.session, [customer_id])
        destroyed = {
            "data_key": True,
            "fields": names,
            "blind_indexes": self._count(BlindIndexEntry.customer_id, customer_id),
            "interactions": self._count(Interaction.customer_id, customer_id),
            "consent_events": self._count(ConsentEvent.customer_id, customer_id),
        }
        erase_customers(self.session, self.store.keyring, [customer_id], now=self.now,
                        anonymise=False, cause="privacy_request")  # fmt: skip
        self.erased_mail += privacy_request_ids(self.session, [customer_id])
        self.session.execute(
            sa.update(PrivacyRequest)
            .where(PrivacyRequest.customer_id == customer_id)
            .values(address_digest=None)
        )
        request.certificate = deletion_certificate(
            self.store, request.id, customer_id, destroyed, erased_at=self.now
        )
        request.status, request.completed_at = "completed", self.now
        self.session.flush()
        self.audit("privacy.erase", request, field_names=names)

    def _count(self, column: Any, customer_id: str) -> int:
        query = sa.select(sa.func.count()).where(column == customer_id)
        return self.session.scalar(query) or 0

    def _new_request(self, kind: str, channel: str, customer_id: str | None) -> PrivacyRequest:
        return PrivacyRequest(
            id="prq_" + secrets.token_hex(16),
            type=kind,
            status="pending_verification",
            reason="",
            channel=channel,
            customer_id=customer_id,
            failed_attempts=0,
            filed_by="",
            received_at=self.now,
            due_at=self.now + RESPONSE_TIME,
        )

    def _locked(self, request_id: str) -> PrivacyRequest:
        request = self.session.scalar(
            sa.select(PrivacyRequest).where(PrivacyRequest.id == request_id).with_for_update()
        )
        return or_not_found(request, "no such privacy request")

    def _code_digest(self, request_id: str, code: str) -> bytes:
        key = self.store.keyring.derived_key(CODE_KEY_LABEL)
        return hmac.new(key, f"{request_id}:{code}".encode(), hashlib.sha256).digest()

    def _address_digest(self, email: str) -> bytes:
        """The keyed digest of an address as the e-mail field normalises it (the blind
        index's input: case, Unicode normal form, IDNA), so every spelling of one address
        counts against the same limit. Raises ``ValidationFailed`` for a malformed one."""
        address = normalise_search_input(self.store.catalogue["email"], email)
        key = self.store.keyring.derived_key(ADDRESS_KEY_LABEL)
        return hmac.new(key, address.encode(), hashlib.sha256).digest()

    def audit(
        self, action: str, request: PrivacyRequest, *, outcome: str = "allowed",
        reason: str = "", field_names: Sequence[str] = (),
    ) -> None:  # fmt: skip
        """Record an event about ``request`` in this unit of work (a customer acting through
        the portal is named by the request's id, never by an address)."""
        context = self.context
        if context.actor_kind == "subject":
            context = dataclasses.replace(context, actor_id=request.id)
        record_event(
            self.session, context, action=action, outcome=outcome, now=self.now,
            customer_ids=[request.customer_id] if request.customer_id else [],
            field_names=field_names, reason=reason or request.type,
        )  # fmt: skip
