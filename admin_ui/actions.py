"""Admin UI changes, each a CSRF-checked form on the page it changes, with the API's checks and
audit events: policy rules added and removed, category owners assigned, fields and purposes
added and retention rules changed (admins); legal holds placed and lifted, privacy requests
filed for customers who asked by phone or letter and due dates extended (compliance
officers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from flask_wtf import FlaskForm

from admin_ui.forms import (
    AddRuleForm,
    ExtendForm,
    FieldForm,
    FileRequestForm,
    HoldForm,
    LiftForm,
    OwnerForm,
    PurposeForm,
    RemoveRuleForm,
    RetentionChangeForm,
    entered,
    rule_form,
    trimmed,
)
from admin_ui.governance import require_principal
from admin_ui.views import blueprint
from vault import services
from vault.api.public_urls import base_url
from vault.audit_trail import aim, refuse
from vault.auth.principal import Principal
from vault.customers.catalogue import FieldSpec
from vault.errors import VaultError, describe_errors

Change = Callable[[Any, Principal], str]


def form_action(
    rule: str, role: str, make_form: Callable[[], FlaskForm], page: str
) -> Callable[[Change], Change]:
    """Register ``change(form, principal)`` as a POST at ``rule`` for ``role``: it runs when the
    form (and its CSRF token) is valid and returns what to tell the user; the API's refusal is
    shown instead, with nothing changed; either way back to ``page`` (post/redirect/get)."""

    def register(change: Change) -> Change:
        @login_required
        def view() -> ResponseReturnValue:
            principal = require_principal(role)
            form = make_form()
            if not form.validate_on_submit():
                refuse("csrf_failed" if "csrf_token" in form.errors else "form_invalid",
                       principal=principal)  # fmt: skip
                flash("The form was incomplete or expired; nothing was changed.", "error")
                return redirect(url_for(page))
            try:
                flash(change(form, principal), "ok")
            except VaultError as exc:  # the service's savepoint has undone what it began
                refuse(exc.code, principal=principal)
                problems = describe_errors(exc.errors)
                flash(f"{exc.detail}{': ' + problems if problems else ''}. Nothing was changed.",
                      "error")  # fmt: skip
            return redirect(url_for(page))

        blueprint.add_url_rule(rule, change.__name__, view, methods=["POST"])
        return change

    return register


@form_action("/policies/add", "admin", rule_form, "admin.policies")
def add_policy_rule(form: AddRuleForm, principal: Principal) -> str:
    rule_id = services.policy_admin(principal).add_rule(
        entered(form.role), entered(form.obj), entered(form.purpose),
        entered(form.action), entered(form.effect),
    )  # fmt: skip
    return f"Rule #{rule_id} added: it applies from the next request."


@form_action("/policies/remove", "admin", RemoveRuleForm, "admin.policies")
def remove_policy_rule(form: RemoveRuleForm, principal: Principal) -> str:
    rule_id = form.rule_id.data or 0
    services.policy_admin(principal).remove_rule(rule_id)
    return f"Rule #{rule_id} removed."


@form_action("/ownership", "admin", OwnerForm, "admin.fields")
def assign_owner(form: OwnerForm, principal: Principal) -> str:
    category = trimmed(form.category)
    user_id = services.catalogue_admin(principal).set_owner_by_email(
        category, entered(form.owner_email)
    )
    return f"The owner of {category} is now {user_id}."


@form_action("/fields/add", "admin", FieldForm, "admin.fields")
def add_catalogue_field(form: FieldForm, principal: Principal) -> str:
    added = services.catalogue_admin(principal).add_field(FieldSpec(
        name=trimmed(form.name), type=entered(form.type),
        category=trimmed(form.category), sensitivity=entered(form.sensitivity),
        searchable=bool(form.searchable.data), unique=bool(form.unique.data),
        max_length=form.max_length.data or 200,
    ))  # fmt: skip
    return f"Field {added.spec.name} added."


@form_action("/purposes/add", "admin", PurposeForm, "admin.purposes")
def add_purpose(form: PurposeForm, principal: Principal) -> str:
    purpose = services.purposes(principal).add(code=trimmed(form.code),
                                               description=entered(form.description),
                                               legal_basis=entered(form.legal_basis))  # fmt: skip
    return f"Purpose {purpose.code} added."


@form_action("/retention/change", "admin", RetentionChangeForm, "admin.retention")
def change_retention_rule(form: RetentionChangeForm, principal: Principal) -> str:
    rule_id, enabled = trimmed(form.rule_id), bool(form.enabled.data)
    rule = services.retention(principal).change(rule_id, period_days=form.period_days.data,
                                                enabled=enabled)  # fmt: skip
    return f"Rule {rule.id}: {rule.period_days} days, {'enabled' if rule.enabled else 'disabled'}."


@form_action("/legal-holds", "compliance_officer", HoldForm, "admin.retention")
def add_hold(form: HoldForm, principal: Principal) -> str:
    customer_id = trimmed(form.customer_id)
    aim([customer_id])
    hold = services.legal_holds(principal).place(customer_id, reason=entered(form.reason))
    return f"Hold {hold.id} placed: no erasure of {hold.customer_id} proceeds until lifted."


@form_action("/legal-holds/lift", "compliance_officer", LiftForm, "admin.retention")
def lift(form: LiftForm, principal: Principal) -> str:
    hold = services.legal_holds(principal).lift(trimmed(form.hold_id), reason=entered(form.reason))
    return f"Hold {hold.id} lifted."


@form_action("/privacy-requests/extend", "compliance_officer", ExtendForm,
             "admin.privacy_requests")  # fmt: skip
def extend_request(form: ExtendForm, principal: Principal) -> str:
    queue = services.privacy_queue(principal)
    item = queue.extend(trimmed(form.request_id), reason=entered(form.reason))
    return f"Request {item.id} is now due on {item.due_at:%Y-%m-%d}."


@form_action("/privacy-requests/file", "compliance_officer", FileRequestForm,
             "admin.privacy_requests")  # fmt: skip
def file_privacy_request(form: FileRequestForm, principal: Principal) -> str:
    customer_id = trimmed(form.customer_id)
    aim([customer_id])
    item = services.privacy_queue(principal, base_url=base_url()).file(
        entered(form.type), customer_id,
        channel=entered(form.channel), identity_check=entered(form.identity_check),
    )  # fmt: skip
    return f"Request {item.id} filed: {item.status.replace('_', ' ')} {item.reason}".strip()
