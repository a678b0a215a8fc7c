"""Retention rules: per category or field, a period after a trigger, and an action. Admins
change them; `vault init` ships four (README.md, "Retention"). The sweep that applies them
is ``vault.governance.retention``."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.customers.catalogue import Catalogue
from vault.errors import ValidationFailed, or_not_found
from vault.governance.models import RETENTION_ACTIONS, RETENTION_TRIGGERS, RetentionRule
from vault.policies import versions
from vault.policies.models import Purpose

COUNTER = "retention"
MAX_PERIOD_DAYS = 36_500

# What `vault init` ships (README.md, "Retention"): each rule's id is stable, so a second init
# does not add them again, and an admin's edits or deletions are kept.
SHIPPED_RULES: tuple[dict[str, Any], ...] = (
    {
        "id": "ret_interests_after_marketing_withdrawal",
        "field": "interests",
        "trigger": "consent_withdrawn",
        "purpose": "marketing",
        "period_days": 30,
        "action": "erase_field",
        "description": "Interests serve marketing only: erased 30 days after the customer "
        "withdraws marketing consent (time for the opt-out to reach every system).",
    },
    {
        "id": "ret_national_id_after_relationship",
        "field": "national_id",
        "trigger": "relationship_ended",
        "period_days": 90,
        "action": "erase_field",
        "description": "A national id is needed while the contract runs: erased 90 days "
        "after the relationship ends.",
    },
    {
        "id": "ret_anonymise_former_customers",
        "trigger": "relationship_ended",
        "period_days": 730,
        "action": "anonymise",
        "description": "Former customers are anonymised two years after the relationship "
        "ends; purchases stay, without a person, for reporting.",
    },
    {
        "id": "ret_erase_inactive_customers",
        "trigger": "last_activity",
        "period_days": 1095,
        "action": "erase_customer",
        "description": "A customer with no activity (no update, interaction or consent "
        "event) for three years is erased.",
    },
)


def rules(session: Session) -> list[RetentionRule]:
    return list(session.scalars(sa.select(RetentionRule).order_by(RetentionRule.id)))


def get_rule(session: Session, rule_id: str) -> RetentionRule:
    return or_not_found(session.get(RetentionRule, rule_id), "no such retention rule")


def _check_target(
    catalogue: Catalogue, action: str, category: str | None, field: str | None
) -> dict[str, list[str]]:
    if action not in RETENTION_ACTIONS:
        return {"action": [f"must be one of {', '.join(RETENTION_ACTIONS)}"]}
    if action != "erase_field":
        whole = f"{action} applies to the whole customer: give no category or field"
        return {"action": [whole]} if category or field else {}
    categories = {spec.category for spec in catalogue.fields.values()}
    problems = [
        (bool(category) == bool(field), "field", "give exactly one of category or field"),
        (bool(field) and field not in catalogue, "field", "unknown field"),
        (bool(category) and category not in categories, "category",
         "no field of the catalogue is in this category"),
    ]  # fmt: skip
    return next(({name: [message]} for bad, name, message in problems if bad), {})


def _check_trigger(session: Session, trigger: str, purpose: str | None) -> dict[str, list[str]]:
    if trigger not in RETENTION_TRIGGERS:
        return {"trigger": [f"must be one of {', '.join(RETENTION_TRIGGERS)}"]}
    if trigger != "consent_withdrawn":
        return {"purpose": ["only a consent_withdrawn rule names a purpose"]} if purpose else {}
    known = session.get(Purpose, purpose) if purpose else None
    if known is None:
        return {"purpose": ["consent_withdrawn needs the purpose whose consent was withdrawn"]}
    if known.legal_basis != "consent":
        return {"purpose": ["this purpose does not rest on consent"]}
    return {}


def _check_period(period_days: Any) -> dict[str, list[str]]:
    if not isinstance(period_days, int) or not 0 <= period_days <= MAX_PERIOD_DAYS:
        return {"period_days": [f"must be a whole number of days from 0 to {MAX_PERIOD_DAYS}"]}
    return {}


def create_rule(
    session: Session, catalogue: Catalogue, *, trigger: str, period_days: int, action: str,
    category: str | None = None, field: str | None = None, purpose: str | None = None,
    description: str = "", enabled: bool = True, by: str, now: dt.datetime,
    rule_id: str | None = None,
) -> RetentionRule:  # fmt: skip
    """Add a rule. Raises ``ValidationFailed`` naming every bad part; nothing is written then."""
    errors = {
        **_check_target(catalogue, action, category, field),
        **_check_trigger(session, trigger, purpose),
        **_check_period(period_days),
    }
    if len(description) > 500:
        errors["description"] = ["must be at most 500 characters"]
    if errors:
        raise ValidationFailed("the retention rule is invalid", errors=errors)
    rule = RetentionRule(
        id=rule_id or "ret_" + secrets.token_hex(10),
        # what it erases (an empty category or field is none), when, and why
        category=category or None, field=field or None, action=action,
        trigger=trigger, purpose=purpose or None, period_days=period_days,
        description=description, enabled=enabled,
        created_by=by, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(rule)
    session.flush()
    versions.bump(session, COUNTER)
    return rule


def update_rule(
    session: Session, rule_id: str, *, now: dt.datetime, period_days: int | None = None,
    enabled: bool | None = None, description: str | None = None,
) -> RetentionRule:  # fmt: skip
    """Change a rule's period, description or whether it is enabled (what it erases and when
    it starts counting make a different rule: add that one instead)."""
    rule = get_rule(session, rule_id)
    errors = _check_period(period_days) if period_days is not None else {}
    if description is not None and len(description) > 500:
        errors["description"] = ["must be at most 500 characters"]
    if errors:
        raise ValidationFailed("the retention rule is invalid", errors=errors)
    if period_days is not None:
        rule.period_days = period_days
    if enabled is not None:
        rule.enabled = enabled
    if description is not None:
        rule.description = description
    rule.updated_at = now
    session.flush()
    versions.bump(session, COUNTER)
    return rule


def delete_rule(session: Session, rule_id: str) -> None:
    session.delete(get_rule(session, rule_id))
    session.flush()
    versions.bump(session, COUNTER)


def seed_rules(session: Session, now: dt.datetime) -> list[str]:
    """Ship the default rules once: only while retention was never configured, so a second
    `vault init` changes nothing and an admin's deletions stay deleted."""
    if versions.current(session, COUNTER) or session.scalar(sa.select(RetentionRule.id).limit(1)):
        return []
    changes = []
    for spec in SHIPPED_RULES:
        rule = RetentionRule(
            **spec, enabled=True, created_by="vault init", created_at=now, updated_at=now
        )
        session.add(rule)
        changes.append(f"created retention rule {rule.id}")
    session.flush()
    versions.bump(session, COUNTER)
    return changes


def rule_fields(rule: RetentionRule, catalogue: Catalogue) -> list[str]:
    """The fields an ``erase_field`` rule erases now (a category's fields as the catalogue
    has them at the time of the sweep)."""
    if rule.field:
        return [rule.field] if rule.field in catalogue else []
    return sorted(n for n, s in catalogue.fields.items() if s.category == rule.category)


def rule_dict(rule: RetentionRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "category": rule.category,
        "field": rule.field,
        "trigger": rule.trigger,
        "purpose": rule.purpose,
        "period_days": rule.period_days,
        "action": rule.action,
        "description": rule.description,
        "enabled": rule.enabled,
        "created_by": rule.created_by,
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }
