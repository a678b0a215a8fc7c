"""Governed access: the one road from a principal and a purpose to customer values. The
access plan decides which fields are shown and how, which may be written, which rows are
visible (consent for a consent-based purpose, the principal's regions); an approved access
grant widens it. The doors (the API, the admin UI, the grants endpoint) build one per request
and call its operations, which check, do the work and record their own audit events (refusals
included) through the recorders the door hands in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import sqlalchemy as sa

from vault.auth.principal import Principal
from vault.crypto.keys import KeyProvider
from vault.customers.index_rows import DuplicateCustomer, Holders
from vault.customers.interactions import InteractionRecord, add_interaction, list_interactions
from vault.customers.reads import CustomerRecord
from vault.customers.service import CustomerStore
from vault.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from vault.governance.access_requests import active_grant
from vault.governance.consent import (
    consenting,
    consents_dict,
    record_consent,
    require_grant_access,
)
from vault.governance.relationship import relationship_end
from vault.policies.plan import AccessPlan
from vault.policies.transforms import PSEUDONYM_LABEL, make_transform


class Unchanged(enum.Enum):
    """A value an update leaves as it is."""

    UNCHANGED = enum.auto()


UNCHANGED = Unchanged.UNCHANGED


class Record(Protocol):
    """Records an allowed access in the request's transaction."""

    def __call__(
        self, action: str, *, customer_ids: Iterable[str] = (), field_names: Iterable[str] = (),
        reason: str = "",
    ) -> object: ...  # fmt: skip


class Refuse(Protocol):
    """Records a refused attempt (kept even when the request's work is rolled back)."""

    def __call__(
        self, reason: str, *, action: str | None = None, customer_ids: Iterable[str] | None = None
    ) -> None: ...


def _no_target(_ids: list[str]) -> None:
    return None


@dataclasses.dataclass(eq=False)
class GovernedAccess:
    """What one principal may do with customer records for one purpose: which customers it
    may see, and each one's view (fields through the plan's transforms, the rest withheld).
    Built from a principal, a purpose and the store; the plans come from ``plans_for`` (the
    compiled, cached plan of the principal's roles for a purpose), and ``on_target`` hears
    every customer a request is about (a refusal names its target). ``record`` and
    ``refuse`` write the audit events of what it does and refuses."""

    principal: Principal
    purpose: str
    store: CustomerStore
    _: dataclasses.KW_ONLY
    plans_for: Callable[[str], AccessPlan]
    keys: KeyProvider
    record: Record
    refuse: Refuse
    on_target: Callable[[list[str]], None] = _no_target
    backdate_days: int = 30
    plan: AccessPlan = dataclasses.field(init=False)
    _shown: list[tuple[str, Callable[[Any], Any] | None, str]] = dataclasses.field(
        init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.plan = self.plans_for(self.purpose)
        self._shown = self._view_steps()

    def _view_steps(self) -> list[tuple[str, Callable[[Any], Any] | None, str]]:
        """(field, how to show it, its transform's name): once per request, not per customer."""
        catalogue = self.store.catalogue
        return [
            (name, self._transform(t, catalogue[name].type) if t else None, t or "none")
            for name, t in self.plan.readable.items()
        ]

    @property
    def row_filter(self) -> sa.ColumnElement[bool] | None:
        return consenting(self.purpose) if self.plan.consent_required else None

    def visible(self, customer_ids: list[str]) -> list[str]:
        if not self.plan.sees_customers:
            return []
        return self.store.visible(
            customer_ids, regions=self.principal.regions, only=self.row_filter
        )

    def require_visible(self, customer_id: str) -> None:
        self.on_target([customer_id])
        if not self.visible([customer_id]):
            raise NotFound("no such customer")

    def widen(self, fields: Iterable[str]) -> None:
        """Show ``fields`` in clear as well (an approved access grant)."""
        readable = {**self.plan.readable, **dict.fromkeys(fields, "")}
        withheld = tuple(sorted(set(self.store.catalogue.fields) - set(readable)))
        self.plan = dataclasses.replace(self.plan, readable=readable, withheld=withheld)
        self._shown = self._view_steps()

    def _transform(self, name: str, field_type: str) -> Callable[[Any], Any]:
        key = self.keys.derived_key(PSEUDONYM_LABEL) if name == "pseudonym" else b""
        function = make_transform(name, key)
        return lambda value: function(field_type, value)

    def view(self, record: CustomerRecord) -> dict[str, Any]:
        values = record.values
        # (a comprehension: this runs for every customer of every page)
        shown: dict[str, Any] = {
            name: {"value": transform(values[name]) if transform else values[name],
                   "transform": label}
            for name, transform, label in self._shown
            if name in values
        }  # fmt: skip
        return {
            "id": record.id,
            "region": record.region,
            "values": shown,
            "withheld": list(self.plan.withheld),
            "relationship_ended_at": record.relationship_ended_at,
        }

    def read_views(self, customer_ids: list[str]) -> list[dict[str, Any]]:
        records = self.store.read(customer_ids, self.plan.readable)
        return [self.view(r) for r in records]

    def _versioned_view(self, customer_id: str) -> dict[str, Any]:
        """The view of one customer just written, with its record's ``version``."""
        (record,) = self.store.read([customer_id], self.plan.readable)
        return {**self.view(record), "version": record.version}

    def plan_for(self, purpose: str) -> AccessPlan:
        """The compiled, cached plan of this principal for ``purpose`` (the policy engine is
        not asked again)."""
        return self.plans_for(purpose)

    def check_fields(self, names: Iterable[str], allowed: frozenset[str], verb: str) -> None:
        names = list(names)
        unknown = self.store.catalogue.unknown(names)
        if unknown:
            raise ValidationFailed(errors={n: ["unknown field"] for n in unknown})
        refused = sorted(set(names) - allowed)
        if refused:
            raise Forbidden(
                f"you may not {verb} these fields for this purpose: {', '.join(refused)}"
            )

    def visible_records(self, customer_ids: list[str] | Holders) -> list[CustomerRecord]:
        """The visible customers among ``customer_ids`` with the plan's fields: the check and
        the read are one SELECT. Unrecorded: the caller records what it hands out."""
        if not self.plan.sees_customers:
            return []
        return self.store.read(customer_ids, self.plan.readable,
                               regions=self.principal.regions, only=self.row_filter)  # fmt: skip

    # --- operations (each records its audit event) -----------------------------------------

    def create(
        self, values: dict[str, Any], *, region: str, consents: Iterable[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        """Create a customer with its consents (see ``create_unrecorded``) and record it;
        returns the caller's view of it."""
        customer_id = self.create_unrecorded(values, region=region, consents=consents)
        self.record("customer.create", customer_ids=[customer_id], field_names=values)
        return self.read_views([customer_id])[0]

    def create_unrecorded(
        self, values: dict[str, Any], *, region: str, consents: Iterable[dict[str, Any]] = ()
    ) -> str:
        """Create a customer with its consents; returns its id. Only fields the plan may
        create, in the principal's regions; a consent grant needs write access for its
        purpose. A duplicate names the existing customer only to those who see it. The
        caller records the creation (``record``), once for all it creates."""
        consents = list(consents)
        self.check_fields(values, self.plan.creatable, "set")
        require_grant_access(self.principal, [c["purpose"] for c in consents if c["granted"]],
                             self.plan_for)  # fmt: skip
        regions = self.principal.regions
        if regions is not None and region not in regions:
            raise Forbidden("you may not create customers in this region")
        try:
            customer_id = self.store.create(values, region=region)
        except DuplicateCustomer as exc:
            if exc.existing_id:
                self.on_target([exc.existing_id])  # an existence probe is recorded against it
                if self.visible([exc.existing_id]):
                    exc.extra["existing_id"] = exc.existing_id
            raise
        for consent in consents:
            record_consent(self.store, customer_id, recorded_by=self.principal.id,
                           announce=False, **consent)  # fmt: skip
        return customer_id

    def page(self, *, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the visible customers, oldest first, and the cursor of the next one."""
        if not self.plan.sees_customers:
            self.record("customer.list")
            return [], None
        records, next_cursor = self.store.read_page(
            self.plan.readable, limit=limit, cursor=cursor, regions=self.principal.regions,
            only=self.row_filter,
        )  # fmt: skip
        self.record("customer.list", customer_ids=[r.id for r in records],
                    field_names=self.plan.readable)  # fmt: skip
        return [self.view(r) for r in records], next_cursor

    def read(self, customer_id: str) -> dict[str, Any]:
        """The view of one customer, with its record's ``version``; ``NotFound`` when it is
        not visible (as for no such id)."""
        self.on_target([customer_id])
        records = self.visible_records([customer_id])
        if not records:
            raise NotFound("no such customer")
        self.record("customer.read", customer_ids=[customer_id], field_names=self.plan.readable)
        return {**self.view(records[0]), "version": records[0].version}

    def search(self, field: str, value: Any) -> list[dict[str, Any]]:
        """The visible customers whose ``field`` (email, phone) equals ``value``."""
        records = self.visible_records(self.store.matching(field, value))
        self.record("customer.search", customer_ids=[r.id for r in records],
                    field_names=[field, *self.plan.readable])  # fmt: skip
        return [self.view(r) for r in records]

    def update(
        self,
        customer_id: str,
        values: dict[str, Any],
        *,
        relationship_ended_at: dt.datetime | Unchanged | None = UNCHANGED,
        if_match: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """Change the fields the plan may write (``None`` removes one) and record the end of
        the customer relationship (or, with ``None``, that it goes on); returns the view, with
        its record's new ``version``.
        With ``if_match`` (versions, or "*" for any), only if the record's version is one of
        them: ``PreconditionFailed`` otherwise, recorded as a refusal."""
        self.require_visible(customer_id)
        self.check_fields(values, self.plan.writable, "change")
        stale = (
            if_match is not None
            and "*" not in if_match
            and self.store.current_version(customer_id) not in if_match
        )
        if stale:
            self.refuse("if_match:stale", action="customer.update", customer_ids=[customer_id])
            raise PreconditionFailed(
                "the customer changed since that version: read it again, then retry"
            )
        ended = None
        if relationship_ended_at is not UNCHANGED:
            ended = self._relationship_end(customer_id, relationship_ended_at)
        changed = self.store.update(customer_id, values) if values else []
        reason = ""
        if relationship_ended_at is not UNCHANGED:
            self.store.end_relationship(customer_id, ended)
            reason = "relationship_ended" if ended else "relationship_resumed"
        self.record("customer.update", customer_ids=[customer_id], field_names=changed,
                    reason=reason)  # fmt: skip
        return self._versioned_view(customer_id)

    def _relationship_end(self, customer_id: str, when: dt.datetime | None) -> dt.datetime | None:
        """The relationship end to record (``Forbidden`` without the permission; outside the
        backdating window ``ValidationFailed``, recorded as a refusal: it would bring
        retention forward)."""
        try:
            return relationship_end(
                when, may_record=self.plan.relationship_write, now=self.store.now,
                backdate_days=self.backdate_days,
            )  # fmt: skip
        except ValidationFailed:
            self.refuse("relationship_ended_at:out_of_range", action="customer.update",
                        customer_ids=[customer_id])  # fmt: skip
            raise

    def consents(self, customer_id: str) -> dict[str, Any]:
        """Consent state per purpose with its history."""
        self.require_visible(customer_id)
        self.record("consent.read", customer_ids=[customer_id])
        return consents_dict(self.store, customer_id)

    def record_consent(self, customer_id: str, consent: dict[str, Any]) -> dict[str, Any]:
        """Append a consent event. A withdrawal needs only sight of the customer; a grant
        needs write access for its purpose."""
        self.require_visible(customer_id)
        if consent["granted"]:
            require_grant_access(self.principal, [consent["purpose"]], self.plan_for)
        record_consent(self.store, customer_id, recorded_by=self.principal.id, **consent)
        self.record("consent.change", customer_ids=[customer_id],
                    reason=f"{consent['purpose']}:{consent['granted']}")  # fmt: skip
        return consents_dict(self.store, customer_id)

    def interactions(self, customer_id: str) -> list[InteractionRecord]:
        """The customer's interactions of the kinds the plan may read, newest first."""
        self.require_visible(customer_id)
        kinds = self.plan.interactions_read
        found = []
        if kinds:
            found = list_interactions(self.store, customer_id, kinds=kinds, with_text=True)
        self.record("interaction.read", customer_ids=[customer_id],
                    field_names=[f"interactions:{k}" for k in kinds])  # fmt: skip
        return found

    def add_interaction(self, customer_id: str, interaction: dict[str, Any]) -> InteractionRecord:
        """Record an interaction of a kind the plan may add; returns it."""
        self.require_visible(customer_id)
        kind = interaction["kind"]
        if kind not in self.plan.interactions_write:
            raise Forbidden(f"you may not record {kind} interactions for this purpose")
        added = add_interaction(self.store, customer_id, **interaction)
        self.record("interaction.create", customer_ids=[customer_id],
                    field_names=[f"interactions:{kind}"])  # fmt: skip
        items = list_interactions(self.store, customer_id, kinds={kind}, with_text=True)
        return next(i for i in items if i.id == added)

    def read_grant(self, request_id: str) -> list[dict[str, Any]]:
        """The customers of the principal's active access grant ``request_id`` for this
        purpose, with the granted fields in clear besides the plan's own view."""
        grant = active_grant(self.store.session, request_id, self.principal.id, self.store.now)
        if grant.purpose != self.purpose:
            raise NotFound("no such active grant for this purpose")
        self.widen(grant.fields.split())
        if grant.customer_ids:
            candidates = grant.customer_ids.split()
        else:
            candidates = self.store.list_page(limit=500, regions={grant.region}).ids
        records = self.store.read(candidates, self.plan.readable,
                                  regions=self.principal.regions, only=self.row_filter)  # fmt: skip
        self.record("customer.read", customer_ids=[r.id for r in records],
                    field_names=self.plan.readable, reason=grant.id)  # fmt: skip
        return [self.view(r) for r in records]
