"""Access plans: for a set of roles and a purpose, which fields are shown (plain or through
which transform), which may be written or set at creation, which interaction kinds may be
read or added, whether the end of the customer relationship may be recorded, and which row
filters apply. Compiled once from the policy rules and cached;
the policy engine is never asked per field or per record."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping

from vault.policies.catalogue import RELATIONSHIP, FieldCatalogue
from vault.policies.transforms import STRICTNESS

ACTIONS = ("read", "write", "create")
PLAIN = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    role: str
    obj: str
    purpose: str
    action: str
    effect: str
    transform: str = PLAIN


@dataclasses.dataclass(frozen=True)
class AccessPlan:
    purpose: str
    roles: frozenset[str]
    readable: Mapping[str, str]  # field -> transform ("" for plain)
    writable: frozenset[str]
    creatable: frozenset[str]
    interactions_read: frozenset[str]
    interactions_write: frozenset[str]
    # may record (or clear) when the customer relationship ended, a retention trigger that
    # leads to anonymisation: the rule object ``relationship``, action ``write``
    relationship_write: bool
    consent_required: bool
    withheld: tuple[str, ...]  # catalogue fields not shown, sorted

    @property
    def sees_customers(self) -> bool:
        return bool(self.readable) or bool(self.interactions_read)


def _decide(matches: list[Rule]) -> str | None:
    """Deny wins; then a plain allow; then the strictest transform; nothing matching: deny."""
    if not matches or any(r.effect == "deny" for r in matches):
        return None
    transforms = {r.transform for r in matches}
    if PLAIN in transforms:
        return PLAIN
    return min(transforms, key=lambda t: STRICTNESS.get(t, -1))


def compile_plan(
    rules: Iterable[Rule],
    roles: frozenset[str],
    purpose: str,
    catalogue: FieldCatalogue,
    *,
    consent_required: bool,
) -> AccessPlan:
    """The plan of ``roles`` (already closed over inheritance) for ``purpose``."""
    by_target: dict[tuple[str, str], list[Rule]] = defaultdict(list)
    for rule in rules:
        if rule.role in roles and rule.purpose == purpose:
            by_target[(rule.obj, rule.action)].append(rule)
    decided: dict[str, dict[str, str]] = {action: {} for action in ACTIONS}
    for name, spec in catalogue.fields.items():
        for action in ACTIONS:
            matches = by_target[(name, action)] + by_target[(f"category:{spec.category}", action)]
            outcome = _decide(matches)
            if outcome is not None:
                decided[action][name] = outcome
    kinds = {
        action: frozenset(
            kind
            for kind in catalogue.interaction_kinds
            if _decide(by_target[(f"interactions:{kind}", action)]) is not None
        )
        for action in ("read", "write")
    }
    readable = decided["read"]
    return AccessPlan(
        purpose=purpose,
        roles=roles,
        readable=readable,
        writable=frozenset(decided["write"]),
        creatable=frozenset(decided["create"]),
        interactions_read=kinds["read"],
        interactions_write=kinds["write"],
        relationship_write=_decide(by_target[(RELATIONSHIP, "write")]) is not None,
        consent_required=consent_required,
        withheld=tuple(sorted(set(catalogue.fields) - set(readable))),
    )
