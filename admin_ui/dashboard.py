"""The dashboard: for each role what it watches, as charts where a person would rather look
than read, from the vault's own counts (never a customer's value).

- compliance officers: privacy requests by status, overdue and due soon; erasures waiting for
  acknowledgement; audit events and refusals per day; consents given and withdrawn per day;
- admins: audit events per day; API clients and their last use; webhook backlog and
  failures; master-key versions and what each still wraps;
- data owners: the access requests waiting for their decision;
- everyone who asks for access: their requests and grants, and when each ends.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from markupsafe import Markup

from admin_ui.charts import bars, daily
from admin_ui.forms import LogoutForm
from admin_ui.governance import short_time
from admin_ui.views import blueprint
from vault import services
from vault.auth.principal import Principal
from vault.auth.service import principal_for_user

AUDIT_DAYS = 14
CONSENT_DAYS = 30


@dataclasses.dataclass
class Panel:
    """One box of the dashboard: a title, a chart and/or a table of the same figures, a
    line of headline figures, and where to act on it."""

    title: str
    chart: Markup | None = None
    columns: list[str] = dataclasses.field(default_factory=list)
    rows: list[list[Any]] = dataclasses.field(default_factory=list)
    figures: list[tuple[str, int, str | None]] = dataclasses.field(default_factory=list)
    link: tuple[str, str] | None = None
    empty: str = ""


@blueprint.get("/")
@login_required
def dashboard() -> ResponseReturnValue:
    """What the signed-in person's roles watch."""
    principal = principal_for_user(current_user)
    return render_template("admin/dashboard.html", principal=principal,
                           panels=panels_for(principal), logout_form=LogoutForm())  # fmt: skip


def panels_for(principal: Principal) -> list[Panel]:
    """The panels of ``principal``'s dashboard, in the order of its roles' concerns."""
    found: list[Panel] = []
    if principal.has_role("compliance_officer"):
        found += [_privacy_requests(principal), _audit_days(principal), *_consents(principal)]
    if principal.has_role("admin"):
        if not principal.has_role("compliance_officer"):
            found.append(_audit_days(principal))
        found += [_clients(principal), _webhooks(principal), _keys(principal)]
    found += _access(principal)
    return found


def _privacy_requests(principal: Principal) -> Panel:
    figures = services.privacy_queue(principal).figures()
    queue = url_for("admin.privacy_requests")
    by_status = figures["by_status"]
    order = ["pending_verification", "verified", "processing", "completed", "rejected", "locked"]
    items = [(status.replace("_", " "), by_status.get(status, 0)) for status in order]
    return Panel(
        "Privacy requests",
        chart=bars("Privacy requests by status", items),
        columns=["status", "requests"],
        rows=[list(item) for item in items],
        figures=[("overdue", figures["overdue"], f"{queue}?overdue=yes"),
                 ("due within 7 days", figures["due_soon"], None),
                 ("erasures awaiting acknowledgement", figures["awaiting_acknowledgement"],
                  f"{queue}?awaiting_acknowledgement=yes")],
        link=(queue, "Open the queue"),
    )  # fmt: skip


def _audit_days(principal: Principal) -> Panel:
    days = services.audit_review(principal).by_day(AUDIT_DAYS)
    labels = [day for day, _events, _refused in days]
    return Panel(
        f"Audit events per day, last {AUDIT_DAYS} days",
        chart=daily("Audit events and refused attempts per day", labels,
                    [("events", [e for _d, e, _r in days]),
                     ("refused", [r for _d, _e, r in days])]),
        columns=["day", "events", "refused"],
        rows=[list(day) for day in reversed(days)],
        link=(url_for("admin.audit_log"), "Open the audit log"),
    )  # fmt: skip


def _consents(principal: Principal) -> list[Panel]:
    per_purpose = services.purposes(principal).consent_by_day(CONSENT_DAYS)
    if not per_purpose:
        return [Panel(f"Consent, last {CONSENT_DAYS} days", empty="No consent was given or "
                      "withdrawn in this time.")]  # fmt: skip
    return [
        Panel(
            f"Consent to {purpose}, last {CONSENT_DAYS} days",
            chart=daily(f"Consents to {purpose} given and withdrawn per day",
                        [d for d, _g, _w in days],
                        [("given", [g for _d, g, _w in days]),
                         ("withdrawn", [w for _d, _g, w in days])]),
            columns=["day", "given", "withdrawn"],
            rows=[list(day) for day in reversed(days) if day[1] or day[2]],
            figures=[("given", sum(g for _d, g, _w in days), None),
                     ("withdrawn", sum(w for _d, _g, w in days), None)],
        )
        for purpose, days in per_purpose.items()
    ]  # fmt: skip


def _clients(principal: Principal) -> Panel:
    clients = services.clients(principal).page(after=None, limit=100)
    rows = [
        [c.name, c.role_name, short_time(c.last_used_at) or "never",
         short_time(c.expires_at) or "no expiry", "revoked" if c.revoked_at else "active"]
        for c in clients
    ]  # fmt: skip
    active = sum(1 for c in clients if not c.revoked_at)
    return Panel("API clients", columns=["client", "role", "last used", "expires", "state"],
                 rows=rows, figures=[("active", active, None)],
                 empty="No API client yet: `vault tokens create` makes one.")  # fmt: skip


def _webhooks(principal: Principal) -> Panel:
    states = services.subscriptions(principal).overview()
    items = [(s.subscription.name, s.backlog) for s in states]
    return Panel(
        "Webhook backlog",
        chart=bars("Deliveries waiting per subscription", items) if items else None,
        columns=["subscription", "status", "waiting", "failed", "last delivered"],
        rows=[[s.subscription.name, s.subscription.status, s.backlog, s.failed,
               short_time(s.last_delivered_at) or "never"] for s in states],
        figures=[("waiting", sum(s.backlog for s in states), None),
                 ("failed", sum(s.failed for s in states), None)],
        link=(url_for("admin.subscriptions"), "Open subscriptions"),
        empty="No subscription yet.",
    )  # fmt: skip


def _keys(principal: Principal) -> Panel:
    status = services.key_status(principal)
    items = [(f"version {v}", status.data_keys_by_version.get(v, 0)) for v in status.versions]
    return Panel(
        "Master keys",
        chart=bars("Data keys wrapped under each master-key version", items),
        columns=["version", "data keys"],
        rows=[list(item) for item in items],
        figures=[("current version", status.current_version, None),
                 ("awaiting re-wrapping", status.pending, None),
                 ("destroyed (erased customers)", status.destroyed, None)],
    )  # fmt: skip


def _access(principal: Principal) -> list[Panel]:
    views = services.access_desk(principal).visible()
    page = url_for("admin.access_requests")
    found = []
    if principal.has_role("data_owner"):
        waiting = [v for v in views if v.decidable and v.status == "pending"]
        found.append(Panel(
            "Waiting for your decision", columns=["request", "from", "purpose", "asked"],
            rows=[[v.request.id, v.request.requester_id, v.request.purpose,
                   short_time(v.request.created_at)] for v in waiting],
            figures=[("waiting", len(waiting), page)], link=(page, "Decide"),
            empty="Nothing waits for you.",
        ))  # fmt: skip
    mine = [v for v in views if v.request.requester_id == principal.id]
    found.append(Panel(
        "Your access requests", columns=["request", "purpose", "status", "ends"],
        rows=[[v.request.id, v.request.purpose, v.status,
               short_time(v.request.expires_at) or ""] for v in mine],
        figures=[("granted now", sum(1 for v in mine if v.status == "approved"), None)],
        link=(page, "Ask for access"), empty="You have asked for nothing yet.",
    ))  # fmt: skip
    return found
