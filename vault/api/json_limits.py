"""JSON as the vault reads and writes it (the app's JSON provider).

Read: UTF-8 only, arrays and objects
nested at most ``MAX_DEPTH`` levels deep, numbers of at most ``MAX_NUMBER_LENGTH``
characters that a double can hold, and no ``NaN`` or ``Infinity`` (which are not JSON).

Python's parser recurses once per level (50,000 ``[`` end in a ``RecursionError``) and
refuses integers of more than 4,300 digits with a ``ValueError``: the depth is counted
before parsing, without recursion, and numbers are measured before they are converted, so
neither escapes. A document too deep is a 422 ``json_too_deep``; a number the vault does not
take is a 422 naming where it stands; what is not JSON at all stays a 400 (Flask's
``BadRequest``, which the error mapper renders as ``malformed_json``).

Written: as Flask writes it (``json.dumps`` with the provider's ``default``, ``ensure_ascii``
and ``sort_keys``); an answer's compact text is written by orjson, a tenth of the
instructions, and kept when it is the text ``json.dumps`` writes: orjson writes UTF-8 where
``ensure_ascii`` escapes, so a text that is not ASCII is written again by ``json.dumps``, as
is anything orjson refuses (an integer beyond 64 bits, a key that is not a string). Two
differences remain, for values no answer of the vault holds: a float below 1e-4 in
magnitude is written without an exponent or with a shorter one (``1e-7``, not ``1e-07``;
the same number), NaN and the infinities as ``null`` (where ``json.dumps`` writes ``NaN``,
which is not JSON); and an ``Enum`` member as its value, where Flask refuses it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

from vault.errors import ValidationFailed, shown

MAX_DEPTH = 64
MAX_NUMBER_LENGTH = 100
BODY = "_schema"  # how an error names the body as a whole (as marshmallow does)

# A JSON string with its escapes: brackets inside strings are not structure.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class _Refused:
    """Stands in the parsed document for a number the vault does not take, until the
    document is searched for where it stood."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


_TOO_LONG = _Refused(f"must be a number of at most {MAX_NUMBER_LENGTH} characters")
_OUT_OF_RANGE = _Refused("must be a number within the range of a double")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether ``text`` nests arrays and objects more than ``limit`` levels deep. One pass,
    no recursion: any number of brackets costs the same stack."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def members(document: Any) -> Iterator[tuple[str, Any]]:
    """Every value in ``document`` (containers too) with its path (``consents.0.source``,
    ``""`` for the document itself), depth first, without recursion. Names in paths are
    cut short and stripped of control characters (``vault.errors.shown``)."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        yield path, value
        if isinstance(value, dict):
            children = [(shown(str(k)), v) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(str(i), v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend((f"{path}.{name}" if path else name, v) for name, v in reversed(children))


def load(data: str | bytes, **kwargs: Any) -> Any:
    """Parse ``data`` within the limits above (``kwargs`` go to ``json.loads``).

    Raises ``ValueError`` for what is not UTF-8 JSON, and ``ValidationFailed`` for a
    document nested too deeply (code ``json_too_deep``) or holding a number the vault does
    not take (naming its path)."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    if too_deep(text):
        raise ValidationFailed(
            "the body nests arrays and objects too deeply",
            code="json_too_deep",
            errors={BODY: [f"must nest arrays and objects at most {MAX_DEPTH} levels deep"]},
        )
    refused: list[_Refused] = []

    def parse_int(digits: str) -> int | _Refused:
        if len(digits) > MAX_NUMBER_LENGTH:
            refused.append(_TOO_LONG)
            return _TOO_LONG
        return int(digits)

    def parse_float(number: str) -> float | _Refused:
        if len(number) > MAX_NUMBER_LENGTH:
            refused.append(_TOO_LONG)
            return _TOO_LONG
        value = float(number)
        if not math.isfinite(value):  # 1e999: a valid JSON number no double can hold
            refused.append(_OUT_OF_RANGE)
            return _OUT_OF_RANGE
        return value

    def parse_constant(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    hooks = {"parse_int": parse_int, "parse_float": parse_float, "parse_constant": parse_constant}
    document = json.loads(text, **{**hooks, **kwargs})
    if refused:
        errors: dict[str, list[str]] = {}
        for path, value in members(document):
            if isinstance(value, _Refused):
                errors.setdefault(path or BODY, []).append(value.message)
        raise ValidationFailed("the body holds a number the vault does not take", errors=errors)
    return document


_COMPACT = (",", ":")
# Dates, times, dataclasses and subclasses of str, int, dict and list go to the provider's
# ``default``, as with ``json.dumps`` (orjson would write them its own way; a subclass then
# ends in ``json.dumps``, which writes it as its base type).
_PASSED_ON = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class LimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, reading with ``load`` (``request.get_json`` included) and
    writing an answer's compact text through orjson where it is the same text."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return load(s, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == {"separators": _COMPACT} and self.ensure_ascii:  # (an answer's)
            options = _PASSED_ON | (orjson.OPT_SORT_KEYS if self.sort_keys else 0)
            try:
                written = orjson.dumps(obj, default=self.default, option=options)
            except orjson.JSONEncodeError:
                pass  # json.dumps says what it makes of it
            else:
                if written.isascii() and b"\x7f" not in written:
                    return written.decode("ascii")
                return _ESCAPED.sub(_escape, written.decode())
        return super().dumps(obj, **kwargs)


# What ``ensure_ascii`` escapes: every character from DEL on (orjson writes them as they
# are, and they can stand only inside strings), as ``\uXXXX``, and those beyond the Basic
# Multilingual Plane as their two surrogates.
_ESCAPED = re.compile("[\x7f-\U0010ffff]")


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"
