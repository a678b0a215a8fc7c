"""An answer's JSON text is the text Flask's own provider writes (``json.dumps``), whether
orjson wrote it or, where orjson writes it otherwise, ``json.dumps`` itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid
from collections import OrderedDict, namedtuple
from enum import IntEnum
from typing import Any

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from vault.api.json_limits import LimitedJSONProvider


@dataclasses.dataclass
class Point:
    x: int
    label: str


class Level(IntEnum):
    LOW = 1


Pair = namedtuple("Pair", "left right")

VIEW = {
    "id": "cus_0123456789abcdef",
    "region": "EU",
    "fields": {
        "email": {"value": "jane@example.org", "transform": "none"},
        "interests": {"value": ["sailing", "ceramics"], "transform": "none"},
        "birth_date": {"value": "1947", "transform": "year"},
    },
    "withheld": ["national_id"],
    "relationship_ended_at": None,
}
BODIES: list[Any] = [
    VIEW,
    {"items": [VIEW, VIEW], "next_cursor": None},
    {"type": "about:blank", "status": 404, "detail": "no such customer", "errors": {}},
    {"b": 1, "a": [True, False, None, 0, -1, 2**63 - 1], "c": {"z": 1.5, "y": -0.25}},
    {"name": "Zoë Ünal", "city": "İzmir", "note": "\u202e", "fa": "مریم"},  # escaped
    {"controls": "\x00\x01\x1f\x7f\t\n", "lines": "\u2028\u2029", "face": "\U0001f600x\uffff"},
    {"when": dt.datetime(2026, 5, 1, 12, 30, tzinfo=dt.UTC), "day": dt.date(2026, 5, 1)},
    {"amount": decimal.Decimal("12.50"), "id": uuid.UUID(int=7), "point": Point(1, "p")},
    {"html": Markup("<b>x</b>"), "level": Level.LOW, "pair": Pair(1, 2)},
    {"multi": MultiDict([("a", 1), ("a", 2)]), "ordered": OrderedDict([("y", 1), ("x", 2)])},
    {"big": 2**70, "small": -(2**70)},  # beyond 64 bits: json.dumps writes them
    {"lone": "\ud800"},  # a lone surrogate: orjson refuses it, json.dumps escapes it
    [1, "two", [3.25, {"four": None}]],
    "text",
    None,
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
@pytest.mark.parametrize("sort_keys", [True, False])
def test_an_answer_is_written_as_flask_writes_it(body: Any, sort_keys: bool) -> None:
    app = Flask("json")
    ours, flasks = LimitedJSONProvider(app), DefaultJSONProvider(app)
    ours.sort_keys = flasks.sort_keys = sort_keys
    assert ours.dumps(body, separators=(",", ":")) == flasks.dumps(body, separators=(",", ":"))
    assert ours.dumps(body) == flasks.dumps(body)  # not an answer's: json.dumps itself
    assert ours.dumps(body, indent=2) == flasks.dumps(body, indent=2)


def test_what_neither_writes_is_refused_alike() -> None:
    app = Flask("json")
    for provider in (LimitedJSONProvider(app), DefaultJSONProvider(app)):
        with pytest.raises(TypeError):
            provider.dumps({"raw": b"bytes"}, separators=(",", ":"))
        with pytest.raises(TypeError):
            provider.dumps({1: "a", "b": 2}, separators=(",", ":"))
