"""Data ownership and access requests: a staff member asks for fields or categories for a
purpose, for listed customers or a region, with a justification and a duration; the owner of
every category it covers approves (or one denies); the grant then widens the requester's view
through the request until it expires or is revoked."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.audit.service import AuditContext, record_event
from vault.auth.models import User
from vault.auth.principal import Principal
from vault.crypto.notes import NoteCipher
from vault.customers.catalogue import Catalogue
from vault.errors import Forbidden, NotFound, ValidationFailed, or_not_found, quoted_list
from vault.governance.models import AccessRequest, CategoryOwner
from vault.governance.notes import justification_place
from vault.policies.models import Purpose

MAX_DAYS = 90
OWNER_ROLE = "data_owner"
# Decides the categories whose only owner is the requester (separation of duties).
OFFICER_ROLE = "compliance_officer"


def owners(session: Session) -> dict[str, str]:
    """category -> owner's user id."""
    rows = session.execute(sa.select(CategoryOwner.category, CategoryOwner.user_id))
    return dict(rows.all())


def set_owner(
    session: Session, catalogue: Catalogue, category: str, user_id: str, *, now: dt.datetime
) -> None:
    """Make a data owner the owner of a category. Raises ``ValidationFailed``."""
    errors: dict[str, list[str]] = {}
    if category not in {spec.category for spec in catalogue.fields.values()}:
        errors["category"] = ["unknown category"]
    user = session.get(User, user_id)
    if user is None or OWNER_ROLE not in {r.name for r in user.roles}:
        errors["user_id"] = [f"must be a staff user with the {OWNER_ROLE} role"]
    if errors:
        raise ValidationFailed("the owner cannot be set", errors=errors)
    row = session.get(CategoryOwner, category)
    if row is None:
        session.add(CategoryOwner(category=category, user_id=user_id, assigned_at=now))
    else:
        row.user_id, row.assigned_at = user_id, now
    session.flush()


def create_request(
    session: Session,
    catalogue: Catalogue,
    requester: Principal,
    *,
    purpose: str,
    fields: Sequence[str],
    categories: Sequence[str],
    customer_ids: Sequence[str],
    region: str,
    justification: str,
    duration_days: int,
    now: dt.datetime,
    notes: NoteCipher,
) -> AccessRequest:
    """Record a pending request, its justification sealed with ``notes`` (staff may write
    personal data there). Raises ``ValidationFailed`` for a request for nothing, for ever,
    for unknown fields or categories, without customers, without a justification, or
    covering a category that has no owner to approve it."""
    errors: dict[str, list[str]] = {}
    if requester.kind != "user":
        raise Forbidden("access requests are made by staff users")
    if session.get(Purpose, purpose) is None:
        errors["purpose"] = ["unknown purpose"]
    unknown = catalogue.unknown(fields)
    if unknown:
        errors["fields"] = [f"unknown field: {quoted_list(unknown)}"]
    known_categories = {spec.category for spec in catalogue.fields.values()}
    if set(categories) - known_categories:
        errors["categories"] = ["unknown category"]
    wanted = set(fields) | {n for n, s in catalogue.fields.items() if s.category in categories}
    if not wanted:
        errors["fields"] = ["ask for at least one field or category"]
    if bool(customer_ids) == bool(region):
        errors["customers"] = ["list customer ids or give a region, not both"]
    if not 1 <= duration_days <= MAX_DAYS:
        errors["duration_days"] = [f"must be 1 to {MAX_DAYS} days"]
    if len(justification.strip()) < 10:
        errors["justification"] = ["explain why, in at least 10 characters"]
    covered = sorted({catalogue[n].category for n in wanted if n in catalogue})
    ownerless = [c for c in covered if c not in owners(session)]
    if ownerless and "fields" not in errors:
        errors["categories"] = [f"no data owner to approve: {', '.join(ownerless)}"]
    if errors:
        raise ValidationFailed("the access request is invalid", errors=errors)
    request_id = "acr_" + secrets.token_hex(12)
    request = AccessRequest(
        id=request_id,
        requester_id=requester.id,
        purpose=purpose,
        fields=" ".join(sorted(wanted)),
        categories=" ".join(covered),
        customer_ids=" ".join(sorted(set(customer_ids))),
        region=region,
        justification_ciphertext=notes.seal(justification_place(request_id), justification.strip()),
        duration_days=duration_days,
        status="pending",
        approvals={},
        created_at=now,
    )
    session.add(request)
    session.flush()
    return request


def _load(session: Session, request_id: str) -> AccessRequest:
    return or_not_found(session.get(AccessRequest, request_id), "no such access request")


class SelfApproval(Forbidden, code="self_approval", title="Self Approval"):
    """The requester tried to decide on their own request (separation of duties)."""

    def __init__(self, request_id: str) -> None:
        super().__init__("nobody approves or denies their own access request")
        # what the refusal's audit event records: the code and the request, never a value
        self.reason = f"{self.code}:{request_id}"


def decidable_categories(
    request: AccessRequest, principal: Principal, owner_map: dict[str, str]
) -> set[str]:
    """The categories of ``request`` that ``principal`` may decide: those it owns and, for a
    compliance officer, those whose only owner is the requester. Never any for the requester
    themself (empty then)."""
    if principal.id == request.requester_id:
        return set()
    officer = principal.has_role(OFFICER_ROLE)
    return {
        category
        for category in request.categories.split()
        if owner_map.get(category) == principal.id
        or (officer and owner_map.get(category) == request.requester_id)
    }


def may_decide(
    request: AccessRequest, principal: Principal, owner_map: dict[str, str], now: dt.datetime
) -> bool:
    """Whether ``principal`` is offered a decision on ``request``: it is pending and covers a
    category it may decide (what the admin UI shows Approve and Deny for)."""
    pending = status_of(request, now) == "pending"
    return pending and bool(decidable_categories(request, principal, owner_map))


def decide(
    session: Session, request_id: str, owner: Principal, *, approve: bool, now: dt.datetime
) -> AccessRequest:
    """An owner approves (their categories) or denies (the whole request); a compliance
    officer does so for the categories whose only owner is the requester. The request is
    approved once every covered category is. Raises ``NotFound``, ``SelfApproval`` (the
    requester, whatever their roles), ``Forbidden`` (nothing here for this principal to
    decide) and ``ValidationFailed`` (already decided)."""
    request = _load(session, request_id)
    if owner.id == request.requester_id:
        raise SelfApproval(request.id)
    mine = decidable_categories(request, owner, owners(session))
    if not mine:
        raise Forbidden(
            "only the owner of a category this request covers decides on it (a compliance"
            " officer for a category the requester owns)"
        )
    if request.status != "pending":
        raise ValidationFailed(errors={"status": [f"the request is already {request.status}"]})
    if not approve:
        request.status, request.decided_at, request.decided_by = "denied", now, owner.id
    else:
        pending = [c for c in request.categories.split() if c not in request.approvals]
        request.approvals = {**request.approvals, **{c: owner.id for c in pending if c in mine}}
        if all(c in request.approvals for c in request.categories.split()):
            request.status, request.decided_at, request.decided_by = "approved", now, owner.id
            request.expires_at = now + dt.timedelta(days=request.duration_days)
    session.flush()
    return request


def revoke(session: Session, request_id: str, by: Principal, *, now: dt.datetime) -> AccessRequest:
    """End a grant (the requester, an owner it covers, or an admin)."""
    request = _load(session, request_id)
    covering = {user for c, user in owners(session).items() if c in request.categories.split()}
    if by.id != request.requester_id and by.id not in covering and not by.has_role("admin"):
        raise Forbidden("only the requester, an owner or an admin revokes a grant")
    if request.status in ("approved", "pending"):
        request.status, request.decided_at, request.decided_by = "revoked", now, by.id
        session.flush()
    return request


def status_of(request: AccessRequest, now: dt.datetime) -> str:
    """pending, approved, denied, revoked, or expired (an approved grant past its end)."""
    expired = request.expires_at is not None and request.expires_at <= now
    if request.status == "approved" and expired:
        return "expired"
    return request.status


def active_grant(
    session: Session, request_id: str, user_id: str, now: dt.datetime
) -> AccessRequest:
    """The requester's approved, unexpired grant; ``NotFound`` otherwise."""
    request = session.get(AccessRequest, request_id)
    if request is None or request.requester_id != user_id or status_of(request, now) != "approved":
        raise NotFound("no such active grant")
    return request


def grant_purposes(session: Session, user_id: str, now: dt.datetime) -> frozenset[str]:
    """Purposes a user may state because of an active grant."""
    rows = session.scalars(
        sa.select(AccessRequest.purpose).where(
            AccessRequest.requester_id == user_id,
            AccessRequest.status == "approved",
            AccessRequest.expires_at > now,
        )
    )
    return frozenset(rows)


def visible_requests(session: Session, principal: Principal) -> list[AccessRequest]:
    """Admins and compliance officers see every request; others theirs and those covering a
    category they own (a whole category: the owner of ``contact`` does not see requests for
    ``contact_ext``)."""
    query = sa.select(AccessRequest).order_by(AccessRequest.created_at.desc())
    if not principal.has_role("admin", OFFICER_ROLE):
        mine = [c for c, user in owners(session).items() if user == principal.id]
        # categories are space-separated: pad them so each is matched whole, and escape
        # LIKE's wildcards ("_" is common in category names)
        padded = sa.literal(" ") + AccessRequest.categories + sa.literal(" ")
        conditions = [AccessRequest.requester_id == principal.id]
        conditions += [padded.contains(f" {c} ", autoescape=True) for c in mine]
        query = query.where(sa.or_(*conditions))
    return list(session.scalars(query))


def record_expired_grants(
    session: Session, context: AuditContext, *, now: dt.datetime
) -> list[str]:
    """Write one ``access_request.expire`` audit event for each grant that ran out since the
    last call (a grant stops working at its end either way: ``status_of``); returns their ids."""
    expired = list(
        session.scalars(
            sa.select(AccessRequest)
            .where(
                AccessRequest.status == "approved",
                AccessRequest.expires_at <= now,
                AccessRequest.expiry_recorded_at.is_(None),
            )
            .order_by(AccessRequest.expires_at)
            .with_for_update(skip_locked=True)
        )
    )
    for request in expired:
        request.expiry_recorded_at = now
        record_event(
            session, context, action="access_request.expire", outcome="allowed", now=now,
            customer_ids=request.customer_ids.split(), field_names=request.fields.split(),
            reason=request.id,
        )  # fmt: skip
    session.flush()
    return [r.id for r in expired]
