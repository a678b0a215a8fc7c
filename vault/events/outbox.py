"""The transactional outbox: the services that change customers write their events here, in
the change's own transaction, so that there is no event without its change and no change
without its event. An event carries ids, field names and purpose codes, never a value.

Who may hear of an event is written with it: the customer's region, and the purposes whose
consent the customer had before the change or has once it is made (the event's
``audience``, read by the event's own INSERT). So a marketing system hears of the
withdrawal of a consent it saw, and of the erasure of a customer it could see before,
although neither is visible after the change.

Each service records its event after it has locked or changed the customer's row, so two
transactions about one customer write their events in the order they commit. The relay
numbers committed events (``number_committed``): the feed and the deliveries follow these
positions, and an event committed late is numbered late, never behind a reader.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from vault.db_deferred import insert_soon, write_soon
from vault.errors import VaultError
from vault.events.models import EVENT_TYPES, Event

# The tables the outbox reads who may hear of an event from, without importing the floors
# above that own them (customers, governance).
_customers = sa.table("customers", sa.column("id"), sa.column("region"))
_consents = sa.table(
    "consent_states", sa.column("customer_id"), sa.column("purpose_code"), sa.column("granted")
)
_EVENTS = cast(sa.Table, Event.__table__)
# session.info: the customers created in the transaction (customer id -> the event of its
# creation), and the (event, purpose) pairs added to their audience since
_NEW = "vault.events.new_customers"
_GIVEN = "vault.events.granted"


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def regions_of(session: Session, customer_ids: Collection[str]) -> dict[str, str]:
    """Customer id -> region, in one query."""
    if not customer_ids:
        return {}
    rows = session.execute(
        sa.select(_customers.c.id, _customers.c.region).where(
            _customers.c.id.in_(sorted(customer_ids))
        )
    )
    return {row.id: row.region for row in rows}


def record(
    session: Session,
    type_: str,
    customer_ids: Iterable[str],
    *,
    now: dt.datetime,
    regions: Mapping[str, str] | None = None,
    fields: Mapping[str, Iterable[str]] | Iterable[str] = (),
    purpose: str | None = None,
    data: Mapping[str, Any] | None = None,
    new_customers: bool = False,
    also: str | None = None,
) -> list[str]:
    """Write one ``type_`` event per customer (flushed with the session's transaction);
    returns their ids. ``fields`` are names (the same for all, or per customer id);
    ``data`` must hold no value. Who may hear of it: the purposes the customers consent to
    now (before an erasure takes them away) and the purpose ``also`` (a consent being
    given, or withdrawn after it was given); for ``new_customers`` (just created, with no
    consent yet), the purposes granted to them later in this transaction (``granted``)."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    ids = list(customer_ids)
    if not ids:
        return []
    if regions is None or any(i not in regions for i in ids):
        regions = {**(regions or {}), **regions_of(session, ids)}
    body = json.dumps(dict(data or {}), sort_keys=True, separators=(",", ":"))
    if not isinstance(fields, Mapping):
        fields = list(fields)  # a generator must not be read once per customer
    if new_customers and also:
        raise ValueError("a new customer consents to nothing yet")
    rows = []
    for customer_id in ids:
        names = fields.get(customer_id, ()) if isinstance(fields, Mapping) else fields
        rows.append(
            {
                "id": new_event_id(),
                "type": type_,
                "occurred_at": now,
                "customer_id": customer_id,
                "region": regions.get(customer_id),
                "purpose": purpose,
                "fields": ",".join(sorted(set(names))),
                "data": body,
            }
        )
    event_ids = [str(r["id"]) for r in rows]
    if new_customers:
        # no consent yet: its audience is that of the consents given with it (``granted``)
        news: dict[str, str] = session.info.setdefault(_NEW, {})
        news.update(zip(ids, event_ids, strict=True))
        for row in rows:
            row["audience"] = NO_AUDIENCE
        if len(rows) == 1 and insert_soon(session, _INSERT_EVENT, rows[0], _write_failed):
            return event_ids  # a request's one event: with the next round trip on PostgreSQL
        session.connection().execute(_INSERT_EVENT, rows)
        return event_ids
    # the audience read by the INSERT itself: the customer's consents as they are now
    also_suffix = f"{also}," if also else ""
    params = [{**{f"new_{k}": v for k, v in row.items()}, "also_suffix": also_suffix}
              for row in rows]  # fmt: skip
    if len(params) == 1 and write_soon(session, _INSERT_WITH_AUDIENCE, params[0], _write_failed):
        return event_ids
    session.connection().execute(_INSERT_WITH_AUDIENCE, params)
    return event_ids


def granted(session: Session, customer_id: str, purpose: str) -> None:
    """A consent to ``purpose`` is given to ``customer_id``: if the customer was created in
    this transaction, the event of its creation is for that purpose's audience too (one
    small UPDATE of the event's row, on PostgreSQL with the next round trip)."""
    event_id = session.info.get(_NEW, {}).get(customer_id)
    given: set[tuple[str, str]] = session.info.setdefault(_GIVEN, set())
    if event_id is None or (event_id, purpose) in given:
        return
    given.add((event_id, purpose))
    values = {"event_id": event_id, "purpose_suffix": f"{purpose},"}
    if not write_soon(session, _GRANTED, values, _write_failed):
        session.connection().execute(_GRANTED, values)


class OutboxWriteFailed(VaultError, code="events_unavailable", title="Events Unavailable"):
    """The event of a change could not be written, so the change is not made."""


def _write_failed(exc: Exception) -> Exception:
    return OutboxWriteFailed("the change's event cannot be written; nothing was done")


class _CommaJoined(FunctionElement[str]):
    """The values of a column joined by commas, the separator written into the statement
    (SQLAlchemy's ``aggregate_strings`` binds it as a parameter rendered at execution)."""

    type = sa.String()
    inherit_cache = True
    name = "comma_joined"


@compiles(_CommaJoined)
def _comma_joined(element: _CommaJoined, compiler: Any, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, ',')"


@compiles(_CommaJoined, "sqlite")
def _comma_joined_sqlite(element: _CommaJoined, compiler: Any, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, ',')"


NO_AUDIENCE = ","  # an event no purpose that needs consent may hear of


def _insert_with_audience() -> sa.Insert:
    """The INSERT of one event (parameters ``new_<column>``) whose audience it reads itself:
    the purposes the customer ``new_customer_id`` consents to, as ",a,b,", followed by
    ``also_suffix`` ("purpose," or "")."""
    columns = ("id", "type", "occurred_at", "customer_id", "region", "purpose", "fields", "data")
    values: dict[str, Any] = {
        name: sa.bindparam(f"new_{name}", type_=_EVENTS.c[name].type) for name in columns
    }
    comma = sa.literal_column("','", sa.String)  # in the text, not a parameter
    given = _CommaJoined(_consents.c.purpose_code)
    consented = (
        sa.select(sa.func.coalesce(comma + given + comma, comma))
        .where(
            _consents.c.customer_id == sa.bindparam("new_customer_id"),
            _consents.c.granted.is_(True),
        )
        .scalar_subquery()
    )
    values["audience"] = consented + sa.bindparam("also_suffix", type_=sa.String)
    return sa.insert(_EVENTS).inline().values(values)  # (inline: no RETURNING of its seq)


_INSERT_EVENT = sa.insert(_EVENTS)
_INSERT_WITH_AUDIENCE = _insert_with_audience()
_GRANTED = (
    sa.update(_EVENTS)
    .where(_EVENTS.c.id == sa.bindparam("event_id"))
    .values(audience=_EVENTS.c.audience + sa.bindparam("purpose_suffix", type_=sa.String))
)


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_rollback")
def _forget_new_customers(session: Session) -> None:
    session.info.pop(_NEW, None)
    session.info.pop(_GIVEN, None)


def number_committed(session: Session, *, now: dt.datetime, limit: int = 5_000) -> int:
    """Give the committed events that have no position yet the next positions, in the order
    they were written (one UPDATE); returns how many. One numberer at a time (the relay's
    job lock; the unique index on ``position`` refuses a second one's numbers)."""
    last = session.scalar(sa.select(sa.func.max(Event.position))) or 0
    waiting = (
        sa.select(_EVENTS.c.seq, sa.func.row_number().over(order_by=_EVENTS.c.seq).label("n"))
        .where(_EVENTS.c.position.is_(None))
        .order_by(_EVENTS.c.seq)
        .limit(limit)
        .subquery()
    )
    numbered = session.execute(
        sa.update(_EVENTS)
        .where(_EVENTS.c.seq == waiting.c.seq)
        .values(position=last + waiting.c.n, numbered_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(numbered.rowcount or 0)  # type: ignore[attr-defined]
