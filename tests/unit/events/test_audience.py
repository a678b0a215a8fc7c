"""The audience written with an event (",purpose,purpose,") filters the outbox for a client
that sees customers for a purpose only with their consent: whole codes, no wildcards."""

from __future__ import annotations

import datetime as dt
from typing import cast

import sqlalchemy as sa

from vault.events.audience import Audience
from vault.events.models import Event


def test_a_consent_purpose_matches_whole_codes_only() -> None:
    engine = sa.create_engine("sqlite://")
    table = cast(sa.Table, Event.__table__)
    table.create(engine)
    audiences = {"evt_1": ",a_c,", "evt_2": ",abc,", "evt_3": ",a_c2,x,", "evt_4": ","}
    with engine.begin() as connection:
        for seq, (event_id, audience) in enumerate(audiences.items(), start=1):
            connection.execute(sa.insert(table), {
                "seq": seq, "id": event_id, "type": "consent.changed", "occurred_at":
                dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "customer_id": "cus_1",
                "fields": "", "data": "{}", "audience": audience,
            })  # fmt: skip

    def heard(*purposes: str) -> set[str]:
        audience = Audience("cli_1", None, frozenset(), frozenset(purposes), frozenset())
        with engine.connect() as connection:
            query = sa.select(Event.id).where(audience.condition())
            return set(connection.scalars(query))

    assert heard("a_c") == {"evt_1"}  # not ",abc," (an underscore is no wildcard)
    assert heard("x", "abc") == {"evt_2", "evt_3"}
    assert heard("a") == set()
    assert heard("%") == set()
