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
from vault.auth.principal import Principal
from vault.errors import VaultError
from vault.services import governed


class LookupForm(FlaskForm):
    purpose = SelectField("Purpose", validators=[DataRequired()])
    email = StringField("E-mail", validators=[Length(max=320)])
    phone = StringField("Phone", validators=[Length(max=64)])
    customer_id = StringField("Customer id", validators=[Length(max=40)])


def _lookup(form: LookupForm, principal: Principal) -> list[dict[str, Any]]:
    """The scoped views the form asks for (raises the API's errors)."""
    purpose = principal.require_purpose(form.purpose.data)
    g.purpose = purpose  # for the request's audit trail: a refusal at its end names it
    ctx = governed(principal, purpose)
    for field in ("email", "phone"):
        value = trimmed(getattr(form, field))
        if value:
            return ctx.search(field, value)
    return [ctx.read(trimmed(form.customer_id))]


@blueprint.route("/customers", methods=["GET", "POST"])
@login_required
def customers() -> ResponseReturnValue:
    """Find a customer for a purpose and see the scoped view."""
    # Only the roles' purposes: a grant's purpose is read through its own grant route.
    principal = require_principal()
    form = LookupForm()
    form.purpose.choices = sorted(principal.purposes)
    views: list[dict[str, Any]] | None = None
    error, status = None, 200
    if form.validate_on_submit():
        if not any((form.email.data, form.phone.data, form.customer_id.data)):
            error, status = "give an e-mail address, a phone number or a customer id", 422
        else:
            try:
                views = _lookup(form, principal)
            except VaultError as exc:
                error, status = exc.detail, exc.status  # a 4xx answer: the request rolls back
    elif request.method == "POST":  # a purpose not yours, or no (or an expired) CSRF token
        error, status = "the form was incomplete, expired or named a purpose not yours", 400
    page = render_template("admin/customers.html", form=form, views=views, error=error,
                           logout_form=LogoutForm())  # fmt: skip
    return page, status
