"""Admin UI pages for who may use the vault (admins): API clients (create, with the token
shown once; revoke, after a confirmation) and staff users (create; disable, after a
confirmation; enable). Each change goes through the same directory services as the API's,
with their checks and audit events; a refusal is shown beside the fields it names and
nothing is changed."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from admin_ui.forms import LogoutForm, entered, trimmed
from admin_ui.governance import require_principal, short_time
from admin_ui.subscriptions import (
    INCOMPLETE,
    CheckboxesField,
    ConfirmForm,
    refused_form,
    sentence,
)
from admin_ui.views import blueprint
from vault import services
from vault.audit_trail import refuse
from vault.auth.principal import Principal
from vault.errors import VaultError


class NewClientForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=64)])
    role = SelectField("Role", validate_choice=False)
    purposes = CheckboxesField("Purposes (none: every purpose the role allows)",
                               validate_choice=False)  # fmt: skip
    expires_days = IntegerField("Expires after (days; empty: never)",
                                validators=[Optional(), NumberRange(min=1, max=3650)])  # fmt: skip


class NewUserForm(FlaskForm):
    email = StringField("E-mail", validators=[Length(max=320)])
    password = PasswordField("Password", validators=[Length(max=1024)])
    roles = CheckboxesField("Roles", validate_choice=False)


def _page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_template(template, logout_form=LogoutForm(), **context), status


def _place(form: FlaskForm, exc: VaultError) -> str:
    """Put the service's messages beside the fields they name; returns what is left over
    (a refusal about no one field) as a sentence."""
    left = []
    for name, messages in (exc.errors or {}).items():
        field = form._fields.get(name) if name != "csrf_token" else None
        if field is None:
            left += [f"{name}: {m}" for m in messages]
        else:
            field.errors = [sentence(m) for m in messages]
    if left or not exc.errors:
        return sentence("; ".join(left) or exc.detail)
    return ""


def _refused(form: FlaskForm, principal: Principal) -> tuple[int, str]:
    """A form refused before any service saw it (``refused_form``), with what to say."""
    status = refused_form(form, principal)
    return status, INCOMPLETE if status == 400 else ""


# --- API clients ------------------------------------------------------------------------------


def _client_rows(principal: Principal) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "name": c.name, "role": c.role_name,
         "purposes": sorted(p.code for p in c.purpose_limit) or ["all of the role's"],
         "created": short_time(c.created_at), "last": short_time(c.last_used_at) or "never",
         "expires": short_time(c.expires_at) or "never", "revoked": short_time(c.revoked_at)}
        for c in services.clients(principal).page(after=None, limit=500)
    ]  # fmt: skip


@blueprint.route("/clients", methods=["GET", "POST"])
@login_required
def api_clients() -> ResponseReturnValue:
    """The API clients of consumer systems; a form for a new one, whose token is then shown
    this once."""
    principal = require_principal("admin")
    form = NewClientForm()
    roles, purposes = services.policy_choices()
    form.role.choices = roles
    form.purposes.choices = purposes
    status, problem = 200, ""
    if form.validate_on_submit():
        try:
            made, token = services.clients(principal).register(
                name=entered(form.name), role=trimmed(form.role),
                purposes=list(form.purposes.data or []), expires_days=form.expires_days.data,
            )  # fmt: skip
        except VaultError as exc:
            refuse(exc.code, principal=principal)
            status, problem = exc.status, _place(form, exc)
        else:
            return _page("admin/client_made.html", made=made, token=token)
    elif request.method == "POST":
        status, problem = _refused(form, principal)
    return _page("admin/clients.html", status, form=form, problem=problem,
                 rows=_client_rows(principal))  # fmt: skip


@blueprint.route("/clients/<client_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke_client(client_id: str) -> ResponseReturnValue:
    """Ask for a confirmation, then revoke the client's token for good."""
    principal = require_principal("admin")
    directory = services.clients(principal)
    client = directory.get(client_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        directory.revoke(client_id)
        flash(f"The token of {client.name} is revoked: its next request is refused.", "ok")
        return redirect(url_for("admin.api_clients"))
    status = refused_form(form, principal) if request.method == "POST" else 200
    return _page("admin/confirm.html", status, form=form, title="Revoke the token",
                 subject=client.name, button="Revoke for good", back="admin.api_clients",
                 explanation="The client's token stops working on its next request, in every"
                 " worker. The client stays listed; it cannot be used again.")  # fmt: skip


# --- staff users --------------------------------------------------------------------------------


@blueprint.route("/users", methods=["GET", "POST"])
@login_required
def users() -> ResponseReturnValue:
    """Staff users with their roles and open sessions; a form for a new one."""
    principal = require_principal("admin")
    directory = services.staff(principal)
    form = NewUserForm()
    form.roles.choices = services.policy_choices()[0]
    status, problem = 200, ""
    if form.validate_on_submit():
        try:
            made = directory.register(email=entered(form.email), password=form.password.data or "",
                                      roles=list(form.roles.data or []))  # fmt: skip
        except VaultError as exc:
            refuse(exc.code, principal=principal)
            status, problem = exc.status, _place(form, exc)
        else:
            flash(f"{made.user.email} can now log in.", "ok")
            return redirect(url_for("admin.users"))
    elif request.method == "POST":
        status, problem = _refused(form, principal)
    rows = [
        {"id": m.user.id, "email": m.user.email, "roles": sorted(r.name for r in m.user.roles),
         "active": m.user.active, "sessions": m.open_sessions}
        for m in directory.page(after=None, limit=500)
    ]  # fmt: skip
    return _page("admin/users.html", status, form=form, problem=problem, rows=rows,
                 me=principal.id, action=ConfirmForm())  # fmt: skip


@blueprint.route("/users/<user_id>/<any(disable, enable):verb>", methods=["GET", "POST"])
@login_required
def change_user(user_id: str, verb: str) -> ResponseReturnValue:
    """Disabling asks for a confirmation first (every session of the user ends); enabling
    is done at once. A refusal (one's own account, say) is shown; nothing is changed."""
    principal = require_principal("admin")
    directory = services.staff(principal)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            member = directory.disable(user_id) if verb == "disable" else directory.enable(user_id)
        except VaultError as exc:
            refuse(exc.code, principal=principal)
            flash(f"{sentence(exc.detail)} Nothing was changed.", "error")
        else:
            flash(f"{member.user.email} is {verb}d.", "ok")
        return redirect(url_for("admin.users"))
    if request.method == "POST" or verb == "enable":
        return redirect(url_for("admin.users"))
    subject = directory.get(user_id).user.email
    return _page("admin/confirm.html", form=form, title="Disable the user", subject=subject,
                 button="Disable", back="admin.users",
                 explanation="The user can no longer log in, and every session and token"
                 " of theirs stops working on its next request. You can enable them"
                 " again.")  # fmt: skip
