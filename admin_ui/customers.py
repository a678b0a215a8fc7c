"""Admin UI: the scoped view of customers, for staff who state a purpose. A search (by e-mail
or phone, through the blind index) or a customer id goes in a POST form, never in the URL;
each answer shows only what the caller's plan allows for that purpose (masked or withheld
fields say so), and is audited as the API's is."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from admin_ui.forms import LogoutForm, trimmed
from admin_ui.governance import require_principal
from admin_ui.views import blueprint
from vault import services
from vault.access.governed import GovernedAccess
from vault.customers.interactions import interaction_dict
from vault.errors import VaultError, describe_errors
from vault.services import governed


class LookupForm(FlaskForm):
    purpose = SelectField("Purpose", validators=[DataRequired()])
    email = StringField("E-mail", validators=[Length(max=320)])
    phone = StringField("Phone", validators=[Length(max=64)])
    customer_id = StringField("Customer id", validators=[Length(max=40)])


def _lookup(form: LookupForm, ctx: GovernedAccess) -> list[dict[str, Any]]:
    """The scoped views the form asks for (raises the API's errors)."""
    for field in ("email", "phone"):
        value = trimmed(getattr(form, field))
        if value:
            return ctx.search(field, value)
    return [ctx.read(trimmed(form.customer_id))]


def _withheld(ctx: GovernedAccess, names: list[str]) -> list[tuple[str, str]]:
    """Each withheld field with why: a field of high or special sensitivity is shown only
    through an approved access grant; the others are not among what the person's roles may
    read for the purpose."""
    fields = ctx.store.catalogue.fields
    reasons = []
    for name in names:
        spec = fields.get(name)
        if spec is not None and spec.sensitivity in ("high", "special"):
            reasons.append((name, f"{spec.sensitivity}-sensitivity {spec.category} data: "
                                  "only an approved access grant shows it"))  # fmt: skip
        else:
            reasons.append((name, f"your roles may not read it for {ctx.purpose}"))
    return reasons


def _details(ctx: GovernedAccess, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each view with the customer's consents and the interactions the plan may read, each
    read through governed access (and audited as the API's reads are)."""
    return [
        {"view": view, "withheld": _withheld(ctx, list(view["withheld"])),
         "consents": ctx.consents(view["id"])["purposes"],
         "interactions": [interaction_dict(i, i.text) for i in ctx.interactions(view["id"])],
         "interaction_kinds": sorted(ctx.plan.interactions_read)}
        for view in views
    ]  # fmt: skip


@blueprint.route("/customers", methods=["GET", "POST"])
@login_required
def customers() -> ResponseReturnValue:
    """Find a customer for a purpose and see the scoped view, its consents with their history
    and its interactions."""
    # Only the roles' purposes: a grant's purpose is read through its own grant route.
    principal = require_principal()
    form = LookupForm()
    form.purpose.choices = sorted(principal.purposes)
    found: list[dict[str, Any]] | None = None
    error, status = None, 200
    field_errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        if not any((form.email.data, form.phone.data, form.customer_id.data)):
            error, status = "give an e-mail address, a phone number or a customer id", 422
        else:
            try:
                purpose = principal.require_purpose(form.purpose.data)
                g.purpose = purpose  # for the request's audit trail: a refusal names it
                ctx = governed(principal, purpose)
                found = _details(ctx, _lookup(form, ctx))
            except VaultError as exc:  # a 4xx answer: the request rolls back
                field_errors = {k: list(v) for k, v in (exc.errors or {}).items()}
                error, status = exc.detail, exc.status
                if field_errors:  # said beside each field; a summary here for who reads it first
                    error = f"Nothing was looked up: {describe_errors(exc.errors)}"
    elif request.method == "POST":  # a purpose not yours, or no (or an expired) CSRF token
        error, status = "the form was incomplete, expired or named a purpose not yours", 400
    page = render_template("admin/customers.html", form=form, found=found, error=error,
                           field_errors=field_errors, purpose=form.purpose.data,
                           logout_form=LogoutForm())  # fmt: skip
    return page, status


@blueprint.get("/access-requests/<request_id>/customers")
@login_required
def grant_customers(request_id: str) -> ResponseReturnValue:
    """The customers of the signed-in person's active grant, for the grant's purpose: the
    granted fields in clear besides the role's own view, consents and interactions, read
    through governed access and audited (``GovernedAccess.read_grant``); 404 for a grant that
    is not theirs, not approved or over."""
    principal = require_principal()
    purpose = services.grant_purpose(principal, request_id)
    g.purpose = purpose
    ctx = governed(services.with_grants(principal), purpose)
    found = _details(ctx, ctx.read_grant(request_id))
    page = render_template("admin/customers.html", form=None, found=found, error=None,
                           field_errors={}, grant=request_id, purpose=purpose,
                           logout_form=LogoutForm())  # fmt: skip
    return page, 200
