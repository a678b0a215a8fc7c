"""The one kind of time the API accepts: ISO 8601 with an offset, read as UTC.

A time whose UTC form falls outside what Python's datetime can hold (``9999-12-31T23:59:59
-23:59`` is in year 10000 in UTC) used to overflow wherever it was converted. Such a time is
refused here, naming the field, and so is one within a day of either end: read back in any
time zone (a database session's, a report's), it would overflow again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma

EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC) - dt.timedelta(days=1)


class AwareTime(ma.fields.AwareDateTime):
    """An aware time (an offset is required), loaded as UTC, between ``EARLIEST`` and
    ``LATEST``; out of that range it is a validation error naming the field."""

    default_error_messages = {
        "out_of_range": (
            f"must lie between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()} "
            "once in UTC"
        ),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        aware = super()._deserialize(value, attr, data, **kwargs)
        try:
            utc = aware.astimezone(dt.UTC)
        except OverflowError:
            raise self.make_error("out_of_range") from None
        if not EARLIEST <= utc <= LATEST:
            raise self.make_error("out_of_range")
        return utc
