"""Admin UI pages for governance, read-only: the privacy-request queue, the audit log (filters,
verification, export), retention rules and legal holds, purposes with consent statistics, and
the field catalogue with its owners. Each page is for the roles the API allows and each view
is audited, as the API's are."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from flask import g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from admin_ui.forms import (
    ExtendForm,
    FieldForm,
    FileRequestForm,
    HoldForm,
    LiftForm,
    LogoutForm,
    OwnerForm,
    PurposeForm,
    RetentionChangeForm,
)
from admin_ui.views import blueprint
from vault import services
from vault.audit.query import AuditFilter
from vault.auth.principal import Principal
from vault.auth.service import principal_for_user
from vault.errors import Forbidden

AUDIT_PAGE = 100
AUDIT_FILTERS = ("actor", "customer", "action", "purpose", "outcome", "since", "until")


def require_principal(*roles: str) -> Principal:
    """The logged-in user as this request's principal (its audit events, refusals included,
    name them). Raises ``Forbidden`` when the user has none of ``roles``."""
    principal = g.principal = principal_for_user(current_user)
    if roles and not principal.has_role(*roles):
        raise Forbidden(f"this page is for: {', '.join(roles)}")
    return principal


def table_page(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], **extra: Any
) -> ResponseReturnValue:
    return render_template(
        "admin/table.html", title=title, columns=columns, rows=rows,
        logout_form=LogoutForm(), **extra,
    )  # fmt: skip


def short_time(value: dt.datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M")


@blueprint.get("/privacy-requests")
@login_required
def privacy_requests() -> ResponseReturnValue:
    """The queue of data-subject requests, soonest due first, each open one with its own
    "Extend…" (once, with the reason the customer is told)."""
    queue = services.privacy_queue(require_principal())
    answers = {"yes": True, "no": False}
    overdue = answers.get(request.args.get("overdue", ""))
    awaiting = answers.get(request.args.get("awaiting_acknowledgement", ""))
    items = queue.views(queue.page(overdue=overdue, awaiting=awaiting, limit=500).items)
    rows = [
        {**i, "told": systems_told(i), "received": short_time(i["received_at"]),
         "due": short_time(i["due_at"]), "status_text": i["status"].replace("_", " "),
         "extendable": i["status"] in ("pending_verification", "verified", "processing")
                       and not i["extended"]}
        for i in items
    ]  # fmt: skip
    filters = {"overdue": ["", "yes", "no"], "awaiting_acknowledgement": ["", "yes", "no"]}
    chosen = {name: request.args.get(name, "") for name in filters}
    return render_template(
        "admin/privacy_requests.html", rows=rows, filters=filters, chosen=chosen,
        extend=ExtendForm(), file_form=FileRequestForm(), logout_form=LogoutForm(),
    )  # fmt: skip


def systems_told(view: dict[str, Any]) -> list[str]:
    """An erasure's systems, one line each: when it acknowledged, or that it has not yet."""
    if view["type"] != "erasure" or view["status"] != "completed":
        return []
    told = [
        f"{n['system']}: acknowledged {short_time(n['acknowledged_at'])}"
        if n["acknowledged_at"]
        else f"{n['system']}: {n['status']}, not acknowledged"
        for n in view.get("notified", [])
    ]
    if view.get("awaiting_acknowledgement") and not told:
        told = ["being told"]
    return told


def _day(text: str, *, end: bool = False) -> dt.datetime | None:
    """A date field (YYYY-MM-DD) as the start of that UTC day, or of the next (``end``: a
    range "until" a day includes it); None when empty or not a date."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start + dt.timedelta(days=1) if end else start


def _page_id(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 19 else None


@blueprint.get("/audit")
@login_required
def audit_log() -> ResponseReturnValue:
    """Audit events, filtered (what the filters say stays in the URL), a page at a time in
    either direction; actors named beside their ids; verification on demand; the export of
    what is filtered."""
    principal = require_principal()
    chosen = {name: request.args.get(name, "").strip()[:64] for name in AUDIT_FILTERS}
    since, until = _day(chosen["since"]), _day(chosen["until"], end=True)
    bad_dates = [n for n, v in (("since", since), ("until", until)) if chosen[n] and v is None]
    filters = AuditFilter(
        actor=chosen["actor"] or None, customer=chosen["customer"] or None,
        action=chosen["action"] or None, purpose=chosen["purpose"] or None,
        outcome=chosen["outcome"] or None, since=since, until=until,
    )  # fmt: skip
    window, verified = services.audit_review(principal).log_page(
        filters, limit=AUDIT_PAGE, verify=request.args.get("verify") == "1",
        before_id=_page_id("before"), after_id=_page_id("after"),
    )  # fmt: skip
    names = services.actor_names(e.actor_id for e in window.events)
    kept = {k: v for k, v in chosen.items() if v}
    query = urlencode(kept)
    export = {**{k: v for k, v in kept.items() if k not in ("since", "until")},
              **({"since": since.isoformat()} if since else {}),
              **({"until": until.isoformat()} if until else {})}  # fmt: skip
    page = render_template(
        "admin/audit_log.html", events=window.events, names=names, chosen=chosen,
        filters=AUDIT_FILTERS, verified=verified, bad_dates=bad_dates,
        newer=f"?{urlencode({**kept, 'after': window.newer})}" if window.newer else None,
        older=f"?{urlencode({**kept, 'before': window.older})}" if window.older else None,
        newest=f"?{query}",
        exports=[(f, "/api/v1/audit/export?" + urlencode({"format": f, **export}))
                 for f in ("csv", "jsonl")],
        short_time=short_time, logout_form=LogoutForm(),
    )  # fmt: skip
    return page, 422 if bad_dates else 200


@blueprint.get("/retention")
@login_required
def retention() -> ResponseReturnValue:
    """Retention rules, and the legal holds in force."""
    principal = require_principal()
    found, active = services.retention(principal).overview()
    rule_rows = [
        [r.id, r.field or r.category or "whole customer", r.action, f"{r.period_days} days",
         r.trigger + (f" ({r.purpose})" if r.purpose else ""), "yes" if r.enabled else "no",
         r.description]
        for r in found
    ]  # fmt: skip
    hold_rows = [[h.id, h.customer_id, h.placed_by, short_time(h.placed_at)] for h in active]
    columns = ["rule", "applies to", "action", "period", "after", "enabled", "why"]
    forms = []
    if principal.has_role("admin"):
        forms.append(("Change a rule's period", url_for("admin.change_retention_rule"),
                      RetentionChangeForm()))  # fmt: skip
    holds: dict[str, Any] = {"title": "Legal holds in force",
                             "columns": ["hold", "customer", "placed by", "since"],
                             "rows": hold_rows}  # fmt: skip
    if principal.has_role("compliance_officer"):
        forms.append(("Place a legal hold", url_for("admin.add_hold"), HoldForm()))
        holds["row_action"] = {
            "label": "Lift…", "url": url_for("admin.lift"), "id_field": "hold_id",
            "form": LiftForm(), "reason_label": "Why it is lifted", "button": "Lift the hold",
        }  # fmt: skip
    return table_page("Retention", columns, rule_rows, forms=forms, second=holds)


@blueprint.get("/purposes")
@login_required
def purposes() -> ResponseReturnValue:
    """Purposes with their legal basis and consent statistics."""
    principal = require_principal()
    rows = [
        [p["code"], p["legal_basis"].replace("_", " "), p["description"],
         *(p.get("consent", {}).get(k, "") for k in ("granted", "withdrawn", "never_asked"))]
        for p in services.purposes(principal).with_consent()
    ]  # fmt: skip
    columns = ["purpose", "legal basis", "description", "granted", "withdrawn", "never asked"]
    forms = []
    if principal.has_role("admin"):
        forms = [("Add a purpose", url_for("admin.add_purpose"), PurposeForm())]
    return table_page("Purposes and consent", columns, rows, forms=forms)


@blueprint.get("/fields")
@login_required
def fields() -> ResponseReturnValue:
    """The field catalogue and the owner of each category."""
    principal = require_principal()
    rows = [
        [f.spec.name, f.spec.type, f.spec.category, f.spec.sensitivity,
         "yes" if f.spec.searchable else "", "yes" if f.spec.unique else "", f.owner or ""]
        for f in services.catalogue_admin(principal).fields()
    ]  # fmt: skip
    columns = ["field", "type", "category", "sensitivity", "searchable", "unique", "owner"]
    forms = []
    if principal.has_role("admin"):
        forms = [("Assign a category's owner", url_for("admin.assign_owner"), OwnerForm()),
                 ("Add a field", url_for("admin.add_catalogue_field"), FieldForm())]  # fmt: skip
    return table_page("Field catalogue", columns, rows, forms=forms)
