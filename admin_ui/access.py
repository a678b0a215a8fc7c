"""Admin UI pages for access: roles and policy rules (admins, read-only), and access requests:
staff ask for a scoped view, the owners of its categories approve or deny, with the same
rules, checks and audit events as the API."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from admin_ui.forms import LogoutForm, RemoveRuleForm, entered, rule_form, trimmed
from admin_ui.governance import require_principal, short_time, table_page
from admin_ui.views import blueprint
from vault import runtime, services
from vault.errors import ValidationFailed, VaultError, describe_errors
from vault.policies.service import effect_of


class AskForm(FlaskForm):
    purpose = SelectField("Purpose", validators=[DataRequired()])
    categories = SelectMultipleField("Categories", validators=[DataRequired()])
    customer_ids = StringField("Customer ids (space-separated)", validators=[Length(max=2000)])
    region = StringField("Or a region", validators=[Length(max=16)])
    justification = TextAreaField("Why", validators=[DataRequired(), Length(max=1000)])
    duration_days = IntegerField("Days", default=7, validators=[NumberRange(min=1, max=90)])


class DecisionForm(FlaskForm):
    """No fields: a decision is a POST that carries only the CSRF token."""


@blueprint.get("/policies")
@login_required
def policies() -> ResponseReturnValue:
    """Roles (purposes, inheritance) and every policy rule."""
    roles, rules = services.policy_admin(require_principal()).overview()
    rows = [
        [rule_id, rule.role, rule.obj, rule.purpose, rule.action, effect_of(rule)]
        for rule_id, rule in rules
    ]
    roles_rows = [[r.name, ", ".join(r.purposes), ", ".join(r.inherits), r.description]
                  for r in roles]  # fmt: skip
    columns = ["#", "role", "field or category", "purpose", "action", "effect"]
    second = {"title": "Roles", "columns": ["role", "purposes", "inherits", "description"],
              "rows": roles_rows}  # fmt: skip
    forms = [("Add a rule", url_for("admin.add_policy_rule"), rule_form()),
             ("Remove a rule", url_for("admin.remove_policy_rule"), RemoveRuleForm())]  # fmt: skip
    return table_page("Policy rules", columns, rows, second=second, forms=forms)


@blueprint.route("/access-requests", methods=["GET", "POST"])
@login_required
def access_requests() -> ResponseReturnValue:
    """Requests you made or may decide on; a form to ask for a scoped view."""
    desk = services.access_desk(require_principal())
    form = AskForm()
    # any purpose: an approved grant is what lets the requester state it
    form.purpose.choices = services.policy_choices()[1]
    categories = sorted({s.category for s in runtime.customer_store().catalogue.fields.values()})
    form.categories.choices = categories
    error, status = None, 200
    if form.validate_on_submit():
        try:
            desk.create(
                purpose=entered(form.purpose), fields=[],
                categories=list(form.categories.data or []),
                customer_ids=entered(form.customer_ids).split(),
                region=trimmed(form.region),
                justification=entered(form.justification),
                duration_days=form.duration_days.data or 0,
            )  # fmt: skip
        except ValidationFailed as exc:
            error = describe_errors(exc.errors)
            status = 422
        else:
            return redirect(url_for("admin.access_requests"))
    elif request.method == "POST":
        error, status = "the form was incomplete or expired; try again", 400
    rows = [
        {"id": r.id, "requester": r.requester_id, "purpose": r.purpose,
         "covers": " ".join(r.categories.split() + r.fields.split()),
         "customers": r.customer_ids or f"region {r.region}", "why": v.justification,
         "days": r.duration_days, "status": v.status, "asked": short_time(r.created_at),
         "decidable": v.decidable, "mine": r.requester_id == desk.principal.id}
        for v in desk.visible() for r in [v.request]
    ]  # fmt: skip
    page = render_template("admin/access_requests.html", form=form, rows=rows, error=error,
                           decision=DecisionForm(), logout_form=LogoutForm())  # fmt: skip
    return page, status


@blueprint.post("/access-requests/<request_id>/<any(approve, deny):verb>")
@login_required
def decide_request(request_id: str, verb: str) -> ResponseReturnValue:
    """An owner (or, for a category the requester owns, a compliance officer) approves or
    denies (CSRF-checked); a refusal is shown and audited, and nothing is decided."""
    desk = services.access_desk(require_principal())
    if not DecisionForm().validate_on_submit():
        return redirect(url_for("admin.access_requests"))
    try:
        desk.decide(request_id, verb)
    except VaultError as exc:  # recorded as a refusal; its savepoint left nothing decided
        problems = describe_errors(exc.errors)
        flash(f"{exc.detail}{': ' + problems if problems else ''}. Nothing was decided.", "error")
    return redirect(url_for("admin.access_requests"))
