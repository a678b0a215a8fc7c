"""``vault subscriptions``: the webhook subscriptions of consumer systems (API.md §5), named as
the command line names them. Each command runs in one transaction; each change is audited as
done from the command line, with the same checks and events as the API's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from flask.cli import AppGroup

from vault import services
from vault.cli.accounts import CLI_CONTEXT
from vault.cli.base import table, when
from vault.db import db
from vault.events.models import EVENT_TYPES, Subscription
from vault.events.subscriptions import SubscriptionDesk, last_answer


class IsoTime(click.ParamType[dt.datetime, Any]):
    """An ISO 8601 date or time, as UTC; one without an offset is read as UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dt.datetime:  # fmt: skip
        if isinstance(value, dt.datetime):
            return value
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return moment.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            self.fail("is not an ISO 8601 time, e.g. 2026-01-31 or 2026-01-31T09:00+01:00",
                      param, ctx)  # fmt: skip


def _desk() -> SubscriptionDesk:
    return services.subscription_desk(CLI_CONTEXT)


def _events(subscription: Subscription) -> str:
    return subscription.event_types.replace(",", ", ")


@click.group("subscriptions", cls=AppGroup)
def subscriptions_group() -> None:
    """Webhook subscriptions of consumer systems."""


@subscriptions_group.command("create")
@click.option("--name", required=True, help="The subscription, e.g. crm-eu-hooks.")
@click.option("--url", required=True, help="The receiver: an http or https URL.")
@click.option(
    "--client",
    required=True,
    help="The API client whose role, purposes and regions bound what it hears.",
)
@click.option("--event", "events", required=True, multiple=True,
              help=f"An event type to send (repeat): {', '.join(EVENT_TYPES)}.")  # fmt: skip
def subscriptions_create(name: str, url: str, client: str, events: tuple[str, ...]) -> None:
    """Subscribe a URL to event types and print its signing secret once, alone on the last
    line. It hears of events from now on (`replay` reaches back)."""
    with db.transaction():
        subscription, secret = _desk().create(name=name, url=url, client=client,
                                              events=list(events))  # fmt: skip
    click.echo(
        f"Created subscription {subscription.id} ({subscription.name}) for client"
        f" {client.strip()}: {_events(subscription)} to {subscription.url}."
    )
    click.echo("The signing secret is shown once (the vault keeps it sealed); the receiver"
               " verifies each delivery with it:")  # fmt: skip
    click.echo(secret)


@subscriptions_group.command("list")
def subscriptions_list() -> None:
    """Every subscription: name, id, URL, client, events, status, deliveries waiting and
    failed, and the last delivery that went through."""
    with db.transaction():
        rows = [
            (s.subscription.name, s.subscription.id, s.subscription.url, s.client_name,
             s.subscription.event_types, s.subscription.status, str(s.backlog), str(s.failed),
             when(s.last_delivered_at))
            for s in _desk().overview()
        ]  # fmt: skip
    table(("NAME", "ID", "URL", "CLIENT", "EVENTS", "STATUS", "BACKLOG", "FAILED",
           "LAST DELIVERED"), rows)  # fmt: skip


def _set_status(name: str, status: str) -> Subscription:
    with db.transaction():
        desk = _desk()
        return desk.update(desk.named(name).id, status=status)


@subscriptions_group.command("pause")
@click.argument("name")
def subscriptions_pause(name: str) -> None:
    """Pause a subscription: its deliveries wait, in order, until it resumes."""
    subscription = _set_status(name, "paused")
    click.echo(f"Paused subscription {subscription.id} ({subscription.name}); its"
               " deliveries wait until it resumes.")  # fmt: skip


@subscriptions_group.command("resume")
@click.argument("name")
def subscriptions_resume(name: str) -> None:
    """Resume a paused subscription: its waiting deliveries go out, in order."""
    subscription = _set_status(name, "active")
    click.echo(f"Resumed subscription {subscription.id} ({subscription.name}).")


@subscriptions_group.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def subscriptions_delete(name: str, yes: bool) -> None:
    """Delete a subscription and its delivery log (asks first, unless --yes)."""
    with db.transaction():
        subscription_id = _desk().named(name).id
    # asked outside the transaction: no database transaction waits on a person
    if not yes:
        click.confirm(f"Delete subscription {subscription_id} ({name.strip()}) and its delivery"
                      " log? This cannot be undone.", abort=True)  # fmt: skip
    with db.transaction():
        _desk().delete(subscription_id)
    click.echo(f"Deleted subscription {subscription_id} ({name.strip()}) and its delivery log.")


@subscriptions_group.command("deliveries")
@click.argument("name")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
def subscriptions_deliveries(name: str, limit: int) -> None:
    """The delivery log, newest first: event, type, customer id, status, attempts, the
    receiver's last answer and the next retry."""
    with db.transaction():
        desk = _desk()
        rows = [
            (event_id, event_type, d.customer_id or "-", d.status, str(d.attempts),
             last_answer(d), when(d.next_attempt_at) if d.status == "pending" else "-")
            for d, event_id, event_type in desk.deliveries(desk.named(name).id, before=None,
                                                           limit=limit)
        ]  # fmt: skip
    table(("EVENT", "TYPE", "CUSTOMER", "STATUS", "ATTEMPTS", "LAST ANSWER", "NEXT RETRY"), rows)


@subscriptions_group.command("replay")
@click.argument("name")
@click.option("--from", "since", required=True, type=IsoTime(),
              help="ISO 8601; without an offset, UTC.")  # fmt: skip
def subscriptions_replay(name: str, since: dt.datetime) -> None:
    """Send again every event since a time that the subscription may hear of."""
    with db.transaction():
        desk = _desk()
        subscription = desk.named(name)
        queued = desk.replay(subscription.id, since=since)
    click.echo(
        f"Replaying events since {when(since)} to {subscription.id} ({subscription.name}):"
        f" {queued} deliveries queued again; the relay adds those it never had."
    )
