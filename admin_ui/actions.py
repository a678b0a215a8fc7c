"""Admin UI changes, each a CSRF-checked form on the page it changes, with the API's checks and
audit events: policy rules added and removed and category owners assigned (admins); legal
holds placed and lifted and privacy-request due dates extended (compliance officers)."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from flask_wtf import FlaskForm

from admin_ui.forms import ExtendForm, HoldForm, LiftForm, OwnerForm, RemoveRuleForm, rule_form
from admin_ui.governance import require_principal
from admin_ui.views import blueprint
from vault import runtime
from vault.api.audit_trail import audit, request_context
from vault.auth.service import find_user_by_email
from vault.db import db
from vault.errors import ValidationFailed, VaultError
from vault.governance.access_requests import set_owner
from vault.governance.legal_holds import lift_hold, place_hold
from vault.governance.privacy import PrivacyDesk
from vault.policies.plan import Rule
from vault.policies.service import add_rules, parse_effect, remove_rule, validate_rule


def _apply(form: FlaskForm, page: str, change: Callable[[], str]) -> ResponseReturnValue:
    """Run ``change`` (it returns what to tell the user) when the form is valid; report the
    API's error otherwise; back to ``page`` either way (post/redirect/get)."""
    if not form.validate_on_submit():
        flash("The form was incomplete or expired; nothing was changed.", "error")
        return redirect(url_for(page))
    try:
        flash(change(), "ok")
    except VaultError as exc:
        db.session.rollback()
        problems = "; ".join(f"{n}: {', '.join(m)}" for n, m in (exc.errors or {}).items())
        flash(f"{exc.detail}{': ' + problems if problems else ''}. Nothing was changed.", "error")
    return redirect(url_for(page))


@blueprint.post("/policies/add")
@login_required
def add_policy_rule() -> ResponseReturnValue:
    principal = require_principal("admin")
    form = rule_form(db.session)

    def change() -> str:
        effect, transform = parse_effect(form.effect.data or "")
        rule = Rule(form.role.data or "", form.obj.data or "", form.purpose.data or "",
                    form.action.data or "", effect, transform)  # fmt: skip
        validate_rule(db.session, rule, runtime.customer_store().catalogue)
        (row,) = add_rules(db.session, [rule])
        audit("policy.change", principal=principal, reason=f"added {row.id}")
        return f"Rule #{row.id} added: it applies from the next request."

    return _apply(form, "admin.policies", change)


@blueprint.post("/policies/remove")
@login_required
def remove_policy_rule() -> ResponseReturnValue:
    principal = require_principal("admin")
    form = RemoveRuleForm()

    def change() -> str:
        rule_id = form.rule_id.data or 0
        remove_rule(db.session, rule_id)
        audit("policy.change", principal=principal, reason=f"removed {rule_id}")
        return f"Rule #{rule_id} removed."

    return _apply(form, "admin.policies", change)


@blueprint.post("/ownership")
@login_required
def assign_owner() -> ResponseReturnValue:
    principal = require_principal("admin")
    form = OwnerForm()

    def change() -> str:
        category = (form.category.data or "").strip()
        user = find_user_by_email(db.session, form.owner_email.data or "")
        if user is None:
            raise ValidationFailed(errors={"owner_email": ["is not a staff user"]})
        set_owner(db.session, runtime.customer_store().catalogue, category, user.id,
                  now=runtime.now())  # fmt: skip
        audit("ownership.change", principal=principal, reason=f"{category}:{user.id}")
        return f"The owner of {category} is now {user.id}."

    return _apply(form, "admin.fields", change)


@blueprint.post("/legal-holds")
@login_required
def add_hold() -> ResponseReturnValue:
    principal = require_principal("compliance_officer")
    form = HoldForm()

    def change() -> str:
        customer_id, reason = (form.customer_id.data or "").strip(), form.reason.data or ""
        hold = place_hold(db.session, customer_id, reason=reason, by=principal.id,
                          now=runtime.now())  # fmt: skip
        audit("legal_hold.place", principal=principal, customer_ids=[hold.customer_id],
              reason=hold.id)  # fmt: skip
        return f"Hold {hold.id} placed: no erasure of {hold.customer_id} proceeds until lifted."

    return _apply(form, "admin.retention", change)


@blueprint.post("/legal-holds/lift")
@login_required
def lift() -> ResponseReturnValue:
    principal = require_principal("compliance_officer")
    form = LiftForm()

    def change() -> str:
        hold_id, reason = (form.hold_id.data or "").strip(), form.reason.data or ""
        hold = lift_hold(db.session, hold_id, reason=reason, by=principal.id,
                         now=runtime.now())  # fmt: skip
        audit("legal_hold.lift", principal=principal, customer_ids=[hold.customer_id],
              reason=hold.id)  # fmt: skip
        return f"Hold {hold.id} lifted."

    return _apply(form, "admin.retention", change)


@blueprint.post("/privacy-requests/extend")
@login_required
def extend_request() -> ResponseReturnValue:
    principal = require_principal("compliance_officer")
    form = ExtendForm()

    def change() -> str:
        desk = PrivacyDesk(runtime.customer_store(), request_context(principal))
        item = desk.extend((form.request_id.data or "").strip(), reason=form.reason.data or "",
                           by=principal.id)  # fmt: skip
        return f"Request {item.id} is now due on {item.due_at:%Y-%m-%d}."

    return _apply(form, "admin.privacy_requests", change)
