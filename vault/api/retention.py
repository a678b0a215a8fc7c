"""``/api/v1/retention``: retention rules (admins change them; admins and compliance officers
read them) and ``POST /retention/run``, the sweep on demand (a dry run for both roles, the
real one for admins). Every change and every run is audited; the sweep's erasures are audited
batch by batch, as in the worker."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.idempotency import idempotent
from vault.api.schemas import as_documented, page_schema
from vault.governance.models import RETENTION_ACTIONS, RETENTION_TRIGGERS
from vault.governance.retention import DEFAULT_BATCH, MAX_BATCH
from vault.governance.retention_desk import RetentionRules
from vault.governance.retention_rules import MAX_PERIOD_DAYS, rule_dict

blueprint = Blueprint(
    "retention", __name__, url_prefix="/api/v1/retention", description="Retention rules"
)

_PERIOD = ma.validate.Range(min=0, max=MAX_PERIOD_DAYS)
_DESCRIPTION = ma.validate.Length(max=500)


class RetentionRuleInSchema(ma.Schema):
    category = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32))
    field = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    trigger = ma.fields.String(required=True, validate=ma.validate.OneOf(RETENTION_TRIGGERS))
    purpose = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    period_days = ma.fields.Integer(required=True, strict=True, validate=_PERIOD)
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(RETENTION_ACTIONS))
    description = ma.fields.String(load_default="", validate=_DESCRIPTION)
    enabled = ma.fields.Boolean(load_default=True)


class RetentionRulePatchSchema(ma.Schema):
    period_days = ma.fields.Integer(strict=True, validate=_PERIOD)
    description = ma.fields.String(validate=_DESCRIPTION)
    enabled = ma.fields.Boolean()

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ma.ValidationError(
                "give period_days, description or enabled (to change what a rule erases or"
                " when it starts counting, add a new rule)",
                "_schema",
            )


class RetentionRunSchema(ma.Schema):
    # A sweep erases: without an explicit ``"dry_run": false`` a request only reports.
    dry_run = ma.fields.Boolean(load_default=True)
    batch_size = ma.fields.Integer(
        load_default=DEFAULT_BATCH, validate=ma.validate.Range(min=1, max=MAX_BATCH)
    )


class RetentionRuleSchema(ma.Schema):
    """A retention rule (``vault.governance.retention_rules.rule_dict``)."""

    id = ma.fields.String()
    category = ma.fields.String(allow_none=True)
    field = ma.fields.String(allow_none=True)
    trigger = ma.fields.String(metadata={"description": ", ".join(RETENTION_TRIGGERS)})
    purpose = ma.fields.String(allow_none=True, metadata={"description": "consent_withdrawn"})
    period_days = ma.fields.Integer()
    action = ma.fields.String(metadata={"description": ", ".join(RETENTION_ACTIONS)})
    description = ma.fields.String()
    enabled = ma.fields.Boolean()
    created_by = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


RetentionRulePageSchema = page_schema("RetentionRulePageSchema", RetentionRuleSchema)


class RuleOutcomeSchema(ma.Schema):
    """What a sweep did (or, dry, would do) under one rule."""

    rule_id = ma.fields.String()
    action = ma.fields.String()
    trigger = ma.fields.String()
    period_days = ma.fields.Integer()
    rule_fields = ma.fields.List(ma.fields.String(), data_key="fields")
    due = ma.fields.Integer(metadata={"description": "past the period, something to erase"})
    erased = ma.fields.Integer(metadata={"description": "customers erased (or, dry, would be)"})
    held = ma.fields.Integer(metadata={"description": "due, but under a legal hold"})


class SweepReportSchema(ma.Schema):
    """A sweep's report (``vault.governance.retention.SweepReport``)."""

    dry_run = ma.fields.Boolean()
    ran_at = ma.fields.AwareDateTime()
    erased = ma.fields.Integer()
    held = ma.fields.Integer()
    rules = ma.fields.List(ma.fields.Nested(RuleOutcomeSchema))


def _rules() -> RetentionRules:
    return services.retention(current_principal())


@blueprint.get("/rules")
@blueprint.response(200, RetentionRulePageSchema)
def list_rules() -> Response:
    """Every retention rule."""
    return as_documented({"items": [rule_dict(r) for r in _rules().all()], "next_cursor": None})


@blueprint.post("/rules")
@idempotent
@blueprint.arguments(RetentionRuleInSchema)
@blueprint.response(201, RetentionRuleSchema)
def add_rule(body: dict[str, Any]) -> Response:
    """Add a rule: erase a category or a field (``erase_field``), or anonymise or erase the
    customer, ``period_days`` after its trigger. 422 naming every bad part."""
    return as_documented(rule_dict(_rules().add(**body)), 201)


@blueprint.get("/rules/<rule_id>")
@blueprint.response(200, RetentionRuleSchema)
def show_rule(rule_id: str) -> Response:
    """One retention rule."""
    return as_documented(rule_dict(_rules().rule(rule_id)))


@blueprint.patch("/rules/<rule_id>")
@blueprint.arguments(RetentionRulePatchSchema)
@blueprint.response(200, RetentionRuleSchema)
def change_rule(body: dict[str, Any], rule_id: str) -> Response:
    """Change a rule's period, description or whether it is enabled."""
    return as_documented(rule_dict(_rules().change(rule_id, **body)))


@blueprint.delete("/rules/<rule_id>")
@blueprint.response(204)
def remove_rule(rule_id: str) -> None:
    _rules().remove(rule_id)


@blueprint.post("/run")
@blueprint.arguments(RetentionRunSchema)
@blueprint.response(200, SweepReportSchema)
def run(body: dict[str, Any]) -> Response:
    """Report per rule what is due, would be erased and is held back by legal holds; only
    ``{"dry_run": false}`` applies the rules (admins). 409 while another sweep runs."""
    report = _rules().sweep(dry_run=body["dry_run"], batch_size=body["batch_size"])
    return as_documented(report.as_dict())
