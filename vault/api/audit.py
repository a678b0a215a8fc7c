"""``/api/v1/audit``: events with filters, verification, and streamed exports. Compliance
officers and admins only; every use is itself audited."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import marshmallow as ma
from flask import Response, stream_with_context
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.schemas import page_schema
from vault.api.times import AwareTime
from vault.audit.models import OUTCOMES
from vault.audit.query import AuditFilter, event_dict
from vault.audit.review import AuditReview
from vault.spreadsheet import spreadsheet_safe

blueprint = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The audit trail")
MAX_EVENT_ID = 2**63 - 1  # the largest BIGINT
EXPORT_COLUMNS = [
    "id", "occurred_at", "actor_kind", "actor_id", "purpose", "action", "customer_ids",
    "field_names", "outcome", "reason", "request_id", "client_address", "sealed",
]  # fmt: skip


class FilterSchema(ma.Schema):
    actor = ma.fields.String(validate=ma.validate.Length(max=64))
    customer = ma.fields.String(validate=ma.validate.Length(max=40))
    action = ma.fields.String(validate=ma.validate.Length(max=64))
    purpose = ma.fields.String(validate=ma.validate.Length(max=64))
    outcome = ma.fields.String(validate=ma.validate.OneOf(OUTCOMES))
    since = AwareTime()
    until = AwareTime()


class EventQuerySchema(FilterSchema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    # A position in the log (the id of the last event of the previous page). Unsigned: an
    # auditor may read every event anyway, so a made-up position shows nothing new; it only
    # has to be a number the database can compare.
    cursor = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_EVENT_ID))


class ExportQuerySchema(FilterSchema):
    format = ma.fields.String(required=True, validate=ma.validate.OneOf(["csv", "jsonl"]))


class EventSchema(ma.Schema):
    id = ma.fields.Integer()
    occurred_at = ma.fields.String()
    actor_kind = ma.fields.String()
    actor_id = ma.fields.String()
    purpose = ma.fields.String()
    action = ma.fields.String()
    customer_ids = ma.fields.List(ma.fields.String())
    field_names = ma.fields.List(ma.fields.String())
    outcome = ma.fields.String()
    reason = ma.fields.String()
    request_id = ma.fields.String()
    client_address = ma.fields.String()
    sealed = ma.fields.Boolean()


EventPageSchema = page_schema("EventPageSchema", EventSchema)


class VerifySchema(ma.Schema):
    ok = ma.fields.Boolean()
    seals = ma.fields.Integer()
    events = ma.fields.Integer()
    unsealed = ma.fields.Integer()
    oldest_unsealed_at = ma.fields.String(allow_none=True)
    problem = ma.fields.String(allow_none=True)


def _review() -> AuditReview:
    return services.audit_review(current_principal())


def _filters(args: dict[str, Any]) -> AuditFilter:
    return AuditFilter(**{k: v for k, v in args.items() if k in AuditFilter.__dataclass_fields__})


@blueprint.get("/events")
@blueprint.arguments(EventQuerySchema, location="query", unknown=ma.RAISE)
@blueprint.response(200, EventPageSchema)
def list_events(args: dict[str, Any]) -> dict[str, Any]:
    """Events, newest first, with filters; ``cursor`` continues a page."""
    rows, next_id = _review().page(
        _filters(args), limit=args["limit"], before_id=args.get("cursor")
    )
    return {
        "items": [event_dict(r) for r in rows],
        "next_cursor": str(next_id) if next_id else None,
    }


@blueprint.get("/verify")
@blueprint.response(200, VerifySchema)
def verify() -> dict[str, Any]:
    """Verify the sealed log (what `vault audit verify` does)."""
    report = _review().verify()
    return {
        "ok": report.ok,
        "seals": report.seals,
        "events": report.events,
        "unsealed": report.unsealed,
        "oldest_unsealed_at": (
            report.oldest_unsealed.isoformat() if report.oldest_unsealed else None
        ),
        "problem": report.problem,
    }


@blueprint.get("/export")
@blueprint.arguments(ExportQuerySchema, location="query", unknown=ma.RAISE)
def export(args: dict[str, Any]) -> Response:
    """Every matching event as CSV or JSON lines, streamed oldest first."""
    # the export's own event is committed first; the stream reads in chunks after it
    rows = _review().export(_filters(args), format=args["format"])
    if args["format"] == "jsonl":
        body: Iterator[str] = (json.dumps(event_dict(e)) + "\n" for e in rows)
        mimetype, name = "application/x-ndjson", "audit-events.jsonl"
    else:
        body = _csv_lines(rows)
        mimetype, name = "text/csv", "audit-events.csv"
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _csv_lines(rows: Iterator[Any]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for event in rows:
        record = event_dict(event)
        record["customer_ids"] = " ".join(record["customer_ids"])
        record["field_names"] = " ".join(record["field_names"])
        writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
