"""Governed access without a request: built from a principal, a purpose and the store, it
decides visibility and views by the plan, and names every customer it is asked about."""

from __future__ import annotations

import pytest

from tests.helpers import SAMPLE_FIELDS
from vault import runtime
from vault.access.governed import GovernedAccess
from vault.auth.principal import Principal
from vault.customers.service import CustomerStore
from vault.errors import NotFound
from vault.policies.plan import AccessPlan
from vault.policies.service import plans


def access(
    store: CustomerStore, regions: frozenset[str] | None
) -> tuple[GovernedAccess, list[list[str]]]:
    principal = Principal("client", "cli_sales", "crm", frozenset({"sales"}),
                          frozenset({"sales"}), regions)  # fmt: skip
    targets: list[list[str]] = []

    def plans_for(purpose: str) -> AccessPlan:
        return plans.plan(store.session, store.catalogue, principal.roles, purpose, stamp=0)

    governed = GovernedAccess(principal, "sales", store, plans_for=plans_for,
                              keys=runtime.key_provider(), record=lambda *_a, **_k: None,
                              refuse=lambda *_a, **_k: None, on_target=targets.append)  # fmt: skip
    return governed, targets


def test_the_plan_decides_the_view_and_the_regions_the_rows(store: CustomerStore) -> None:
    customer_id = store.create(SAMPLE_FIELDS, region="EU")
    everywhere, targets = access(store, regions=None)
    everywhere.require_visible(customer_id)
    assert targets == [[customer_id]]
    [view] = everywhere.read_views([customer_id])
    assert view["values"]["email"] == {"value": "Jeanne.Dupont@example.org",  # domain folded
                                       "transform": "none"}  # fmt: skip
    assert view["values"]["birth_date"]["transform"] == "year"
    assert view["values"]["national_id"]["transform"] == "last4"
    assert SAMPLE_FIELDS["national_id"] not in str(view)

    us_only, us_targets = access(store, regions=frozenset({"US"}))
    assert us_only.visible([customer_id]) == []
    with pytest.raises(NotFound):
        us_only.require_visible(customer_id)
    assert us_targets == [[customer_id]]  # the refusal still names its target

    everywhere.widen(["national_id"])  # an approved grant shows the field in clear
    [widened] = everywhere.read_views([customer_id])
    assert widened["values"]["national_id"] == {"value": SAMPLE_FIELDS["national_id"],
                                                "transform": "none"}  # fmt: skip
