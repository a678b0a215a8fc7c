"""Bulk calls (API.md §6) through one principal's governed access, checked and audited like
the single calls, with one audit event per call naming every customer.

- ``create_batch``: each item is created alone, in a savepoint of its own, so a refused item
  leaves nothing behind and the others stand; the request commits what was created.
- ``lookup``: the views of the customers asked for that the caller may see, in the order
  asked; the others are simply absent from the answer (and named by one refusal in the audit
  trail, as a 404 of the single read would be).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from vault.access.governed import GovernedAccess
from vault.customers.index_rows import DuplicateCustomer
from vault.errors import VaultError

BULK_LIMIT = 500  # items of a batch, ids of a lookup
_REASON_LENGTH = 64  # the audit trail's reason column


@dataclasses.dataclass(frozen=True, slots=True)
class Created:
    """An item of a batch that was created: the customer's id and the caller's view."""

    index: int
    customer_id: str
    view: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Refused:
    """An item of a batch that was refused, and why."""

    index: int
    error: VaultError


def _reason(codes: collections.Counter[str]) -> str:
    text = "batch:" + ",".join(f"{code}={count}" for code, count in sorted(codes.items()))
    return text[:_REASON_LENGTH]


def create_batch(
    access: GovernedAccess, items: Sequence[Mapping[str, Any] | VaultError]
) -> list[Created | Refused]:
    """Create each item (``{"values", "region", "consents"}``, as for ``create``; an item
    given as an error was refused at the door, e.g. invalid, and stays refused); one result
    per item, in order. Records one ``customer.create`` event naming every customer created
    (none, when all were refused) and, when any item was refused, one refusal naming the
    customers the refused items aimed at (a duplicate's holder), its reason the count per
    problem code."""
    session = access.store.session
    results: list[Created | Refused] = []
    created: dict[int, str] = {}
    field_names: set[str] = set()
    codes: collections.Counter[str] = collections.Counter()
    aimed: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, VaultError):
            results.append(Refused(index, item))
            codes[item.code] += 1
            continue
        try:
            with session.begin_nested():
                customer_id = access.create_unrecorded(
                    dict(item["values"]), region=item["region"], consents=item["consents"]
                )
        except VaultError as exc:
            if exc.status >= 500:  # the vault's own failure: the whole call fails
                raise
            results.append(Refused(index, exc))
            codes[exc.code] += 1
            if isinstance(exc, DuplicateCustomer) and exc.existing_id:
                aimed.append(exc.existing_id)
            continue
        created[index] = customer_id
        field_names.update(item["values"])
    ids = list(created.values())
    # recorded even when nothing was created: the call is, like a page that shows no one
    access.record("customer.create", customer_ids=ids, field_names=sorted(field_names),
                  reason="batch")  # fmt: skip
    if codes:
        access.refuse(_reason(codes), action="customer.create", customer_ids=aimed)
    views = {view["id"]: view for view in access.read_views(ids)} if ids else {}
    for index, customer_id in created.items():
        results.append(Created(index, customer_id, views[customer_id]))
    return sorted(results, key=lambda result: result.index)


def lookup(access: GovernedAccess, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The views of the customers among ``customer_ids`` the caller may see for the purpose,
    in the order asked (each once). Records one ``customer.read`` event naming them and, when
    any was not shown, one refusal naming those."""
    wanted = list(dict.fromkeys(customer_ids))
    records = {record.id: record for record in access.visible_records(wanted)}
    shown = [customer_id for customer_id in wanted if customer_id in records]
    access.record("customer.read", customer_ids=shown, field_names=access.plan.readable,
                  reason="lookup")  # fmt: skip
    absent = [customer_id for customer_id in wanted if customer_id not in records]
    if absent:
        access.refuse("lookup:not_visible", action="customer.read", customer_ids=absent)
    return [access.view(records[customer_id]) for customer_id in shown]
