"""Who may hear of an event: an API client learns only about customers it could see for one
of its purposes (in its regions; for a purpose whose legal basis is consent, only customers
who consented, before or after the change), and only the names of fields it may read.

The ``Audience`` of a client is worked out above this floor, from its plans
(``vault.services.event_audience``); here it becomes a row filter over the outbox and the
body of each event it may see."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from vault.events.models import Event

# Events that only name fields: one that names none the client may read says nothing to it.
FIELD_EVENTS = frozenset({"customer.updated", "field.erased"})


@dataclasses.dataclass(frozen=True)
class Audience:
    client_id: str
    regions: frozenset[str] | None  # None: every region
    open_purposes: frozenset[str]  # purposes it sees customers for without their consent
    consent_purposes: frozenset[str]  # purposes it sees only consenting customers for
    fields: frozenset[str]  # fields it may read for one of these purposes

    @property
    def hears_nothing(self) -> bool:
        return not self.open_purposes and not self.consent_purposes

    def condition(self) -> sa.ColumnElement[bool]:
        """The events this client may hear of (a filter over ``events``)."""
        if self.hears_nothing:
            return sa.false()
        clauses: list[sa.ColumnElement[bool]] = []
        if self.regions is not None:
            clauses.append(Event.region.in_(sorted(self.regions)))
        if not self.open_purposes:
            # ",code," within ",a,code,b,": codes hold no comma; LIKE's wildcards escaped
            consented = [
                Event.audience.contains(f",{purpose},", autoescape=True)
                for purpose in sorted(self.consent_purposes)
            ]
            clauses.append(sa.or_(*consented))
        return sa.and_(sa.true(), *clauses)

    def fields_of(self, event: Any) -> list[str]:
        names = [n for n in (event.fields or "").split(",") if n]
        return [n for n in names if n in self.fields]

    def body(self, event: Any) -> dict[str, Any] | None:
        """What this client is told of ``event`` (an ``events`` row), or None when it names
        only fields the client may not read."""
        fields = self.fields_of(event)
        if event.type in FIELD_EVENTS and not fields:
            return None
        return event_body(event, fields)


def render_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def event_body(event: Any, fields: list[str]) -> dict[str, Any]:
    """The JSON body of an event (API.md §5): ids, field names, purpose, data; no value."""
    return {
        "id": event.id,
        "type": event.type,
        "occurred_at": render_time(event.occurred_at),
        "customer_id": event.customer_id,
        "fields": fields,
        "purpose": event.purpose,
        "data": json.loads(event.data or "{}"),
    }
