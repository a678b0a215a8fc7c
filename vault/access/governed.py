"""Governed access: the one road from a principal and a purpose to customer values. The
access plan decides which fields are shown and how, which may be written, which rows are
visible (consent for a consent-based purpose, the principal's regions); an approved access
grant widens it. The doors (the API, the admin UI, the grants endpoint) build one per request
and write the audit event of what it returned."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from vault.auth.principal import Principal
from vault.crypto.keys import KeyProvider
from vault.customers.service import CustomerRecord, CustomerStore
from vault.errors import Forbidden, NotFound, ValidationFailed
from vault.governance.consent import consenting
from vault.policies.plan import AccessPlan
from vault.policies.transforms import PSEUDONYM_LABEL, make_transform


class GovernedAccess:
    """What one principal may do with customer records for one purpose: which customers it
    may see, and each one's view (fields through the plan's transforms, the rest withheld).
    Built from a principal, a purpose and the store; the plans come from ``plans_for`` (the
    compiled, cached plan of the principal's roles for a purpose), and ``on_target`` hears
    every customer a request is about (a refusal names its target)."""

    def __init__(
        self,
        principal: Principal,
        purpose: str,
        store: CustomerStore,
        *,
        plans_for: Callable[[str], AccessPlan],
        keys: KeyProvider,
        on_target: Callable[[list[str]], None] = lambda _ids: None,
    ) -> None:
        self.principal = principal
        self.purpose = purpose
        self.store = store
        self.keys = keys
        self.on_target = on_target
        self._plans_for = plans_for
        self.plan: AccessPlan = plans_for(purpose)
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

    def plan_for(self, purpose: str) -> AccessPlan:
        """The compiled, cached plan of this principal for ``purpose`` (the policy engine is
        not asked again)."""
        return self._plans_for(purpose)

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
