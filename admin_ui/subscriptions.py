"""Admin UI: the webhook subscriptions of consumer systems (admins only). The list shows each
one's client, events, backlog and failures, with its actions where its row is: pause and
resume, replay from a time, delete (after a confirmation: it cannot be undone), and its
delivery log, newest first. A new subscription's signing secret is shown once, in the answer
to its form. The same desk, checks and audit events as the API's and the command line's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    Field,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    URLField,
    widgets,
)
from wtforms.validators import DataRequired, InputRequired, Length

from admin_ui.actions import form_action
from admin_ui.forms import LogoutForm, entered, trimmed
from admin_ui.governance import require_principal, short_time
from admin_ui.views import blueprint
from vault import runtime, services
from vault.audit_trail import refuse
from vault.auth.principal import Principal
from vault.errors import Conflict, VaultError
from vault.events.models import EVENT_TYPES, Subscription
from vault.events.subscriptions import SubscriptionDesk, last_answer

DELIVERIES_PAGE = 50
INCOMPLETE = "The form was incomplete or has expired; nothing was changed. Try again."


def sentence(text: str) -> str:
    """A message of the vault's (``must not be empty``) as a sentence next to a field."""
    text = text.strip().rstrip(".")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


class CheckboxesField(SelectMultipleField):
    """A choice of several, as one checkbox each."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class UtcTimeField(DateTimeLocalField):
    """A date and time read as UTC (a browser's ``datetime-local`` input)."""

    MESSAGE = "Give the date and the time (UTC) to send events from."

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(self.MESSAGE) from None


class NewSubscriptionForm(FlaskForm):
    """The desk judges every field at once (``SubscriptionDesk.create``), so that one answer
    shows every problem; the form checks only lengths and its CSRF token."""

    name = StringField("Name", validators=[Length(max=128)])
    url = URLField("Receiver URL", validators=[Length(max=2000)])
    client = SelectField("API client", validate_choice=False)
    events = CheckboxesField("Events", choices=list(EVENT_TYPES), validate_choice=False)


# What a field left empty is told, rather than the desk's word for any value it refuses.
LEFT_EMPTY = {
    "name": "Give the subscription a name.",
    "url": "Give the receiver's URL.",
    "client": "Choose an API client.",
    "events": "Choose one or more events.",
}


class ReplayForm(FlaskForm):
    since = UtcTimeField("From (UTC)", tz=dt.UTC, format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                         validators=[InputRequired(UtcTimeField.MESSAGE)])  # fmt: skip


class ConfirmForm(FlaskForm):
    """No fields: a confirmation is a POST that carries only the CSRF token."""


class ChosenSubscriptionForm(FlaskForm):
    subscription_id = HiddenField(validators=[DataRequired(), Length(max=40)])


def _page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_template(template, logout_form=LogoutForm(), **context), status


def refused_form(form: FlaskForm, principal: Principal) -> int:
    """Record a form sent back incomplete or without its CSRF token; its answer's status."""
    csrf = "csrf_token" in form.errors
    refuse("csrf_failed" if csrf else "form_invalid", principal=principal)
    return 400 if csrf else 422


@blueprint.get("/subscriptions")
@login_required
def subscriptions() -> ResponseReturnValue:
    """Every subscription with its client, events, backlog, failures and last delivery."""
    states = services.subscriptions(require_principal("admin")).overview()
    rows = [
        {"id": s.subscription.id, "name": s.subscription.name, "url": s.subscription.url,
         "status": s.subscription.status, "client": s.client_name,
         "events": s.subscription.event_types.split(","), "backlog": s.backlog,
         "failed": s.failed, "last": short_time(s.last_delivered_at) or "never"}
        for s in states
    ]  # fmt: skip
    return _page("admin/subscriptions.html", rows=rows, action=ChosenSubscriptionForm())


@blueprint.route("/subscriptions/new", methods=["GET", "POST"])
@login_required
def new_subscription() -> ResponseReturnValue:
    """The form for a new subscription; once made, its signing secret, shown this once."""
    principal = require_principal("admin")
    desk = services.subscriptions(principal)
    form = NewSubscriptionForm()
    form.client.choices = [("", "Choose…"), *((n, n) for n in desk.client_names())]
    status, problem = 200, ""
    if form.validate_on_submit():
        try:
            made, secret = desk.create(name=entered(form.name), url=entered(form.url),
                                       client=entered(form.client),
                                       events=list(form.events.data or []))  # fmt: skip
        except VaultError as exc:
            refuse(exc.code, principal=principal)
            status, problem = exc.status, _place_errors(form, exc)
        else:
            return _page("admin/subscription_made.html", 201, made=made, secret=secret,
                         client=entered(form.client))  # fmt: skip
    elif request.method == "POST":
        status = refused_form(form, principal)
        problem = INCOMPLETE if status == 400 else ""
    return _page("admin/subscription_new.html", status, form=form, problem=problem)


def _place_errors(form: NewSubscriptionForm, exc: VaultError) -> str:
    """Put the desk's refusal next to the fields it names; what names none is returned."""
    if isinstance(exc, Conflict):
        form.name.errors = ["Another subscription has this name; choose another."]
        return ""
    fields: dict[str, Field] = {"name": form.name, "url": form.url, "client": form.client,
                                "events": form.events}  # fmt: skip
    rest = []
    for name, messages in (exc.errors or {}).items():
        field = fields.get(name)
        if field is None:
            rest += [sentence(m) for m in messages]
        elif _left_empty(field):
            field.errors = [LEFT_EMPTY[name]]
        else:
            field.errors = [sentence(m) for m in messages]
    return " ".join(rest) if exc.errors else sentence(exc.detail)


def _left_empty(field: Field) -> bool:
    data = field.data
    return not (data.strip() if isinstance(data, str) else data)


Step = Callable[[SubscriptionDesk, Subscription, Any], str]


def _step(subscription_id: str, form: FlaskForm, act: Step, **shown: Any) -> ResponseReturnValue:
    """A step on one subscription that asks first (a time to replay from, the confirmation
    of a deletion): its page, then on a valid POST ``act``, whose message is flashed on the
    way back to the list. A refusal is shown on the page and audited; nothing is changed."""
    principal = require_principal("admin")
    desk = services.subscriptions(principal)
    subscription = desk.get(subscription_id)
    status, problem = 200, ""
    if form.validate_on_submit():
        try:
            flash(act(desk, subscription, form), "ok")
        except VaultError as exc:
            refuse(exc.code, principal=principal)
            status, problem = exc.status, sentence(exc.detail)
        else:
            return redirect(url_for("admin.subscriptions"))
    elif request.method == "POST":
        status = refused_form(form, principal)
        problem = INCOMPLETE if status == 400 else ""
    return _page("admin/subscription_step.html", status, form=form, problem=problem,
                 subscription=subscription, **shown)  # fmt: skip


def _replay(desk: SubscriptionDesk, subscription: Subscription, form: ReplayForm) -> str:
    since: dt.datetime = form.since.data
    queued = desk.replay(subscription.id, since=since)
    return (f"Replaying events since {since:%Y-%m-%d %H:%M} UTC to {subscription.name}:"
            f" {queued} deliveries queued again; the relay adds those it never had.")  # fmt: skip


def _delete(desk: SubscriptionDesk, subscription: Subscription, _form: ConfirmForm) -> str:
    desk.delete(subscription.id)
    return f"Subscription {subscription.name} and its delivery log were deleted."


@blueprint.route("/subscriptions/<subscription_id>/replay", methods=["GET", "POST"])
@login_required
def replay_subscription(subscription_id: str) -> ResponseReturnValue:
    """Ask from when to send events again, then queue them."""
    form = ReplayForm()
    if not form.is_submitted():
        form.since.data = runtime.now() - dt.timedelta(days=1)
    return _step(subscription_id, form, _replay, title="Replay events", button="Replay",
                 explanation="Every event since this time that the subscription may hear of"
                 " is sent again, in order per customer; events from before it was made are"
                 " sent too.")  # fmt: skip


@blueprint.route("/subscriptions/<subscription_id>/delete", methods=["GET", "POST"])
@login_required
def delete_subscription(subscription_id: str) -> ResponseReturnValue:
    """Ask for a confirmation, then delete the subscription and its delivery log."""
    return _step(subscription_id, ConfirmForm(), _delete, title="Delete the subscription",
                 button="Delete for good", danger=True,
                 explanation="The subscription and its delivery log are deleted; deliveries"
                 " still waiting are dropped. This cannot be undone.")  # fmt: skip


@form_action("/subscriptions/pause", "admin", ChosenSubscriptionForm, "admin.subscriptions")
def pause_subscription(form: ChosenSubscriptionForm, principal: Principal) -> str:
    paused = services.subscriptions(principal).update(trimmed(form.subscription_id),
                                                      status="paused")  # fmt: skip
    return f"Subscription {paused.name} paused: its deliveries wait, in order, until it resumes."


@form_action("/subscriptions/resume", "admin", ChosenSubscriptionForm, "admin.subscriptions")
def resume_subscription(form: ChosenSubscriptionForm, principal: Principal) -> str:
    resumed = services.subscriptions(principal).update(trimmed(form.subscription_id),
                                                       status="active")  # fmt: skip
    return f"Subscription {resumed.name} resumed: its waiting deliveries go out."


@blueprint.get("/subscriptions/<subscription_id>/deliveries")
@login_required
def subscription_deliveries(subscription_id: str) -> ResponseReturnValue:
    """The delivery log, newest first, a page at a time (``?before=`` a delivery's number)."""
    desk = services.subscriptions(require_principal("admin"))
    subscription = desk.get(subscription_id)
    before = request.args.get("before", type=int)
    before = before if before and before > 0 else None
    found = desk.deliveries(subscription_id, before=before, limit=DELIVERIES_PAGE + 1)
    rows = [
        {"id": d.id, "event": event_id, "type": event_type, "customer": d.customer_id or "",
         "status": d.status, "attempts": d.attempts, "answer": last_answer(d),
         "attempted": short_time(d.last_attempt_at),
         "next": short_time(d.next_attempt_at) if d.status == "pending" else ""}
        for d, event_id, event_type in found[:DELIVERIES_PAGE]
    ]  # fmt: skip
    older = rows[-1]["id"] if len(found) > DELIVERIES_PAGE else None
    return _page("admin/subscription_deliveries.html", subscription=subscription, rows=rows,
                 older=older, paged=before is not None)  # fmt: skip
