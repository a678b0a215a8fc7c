"""JSON as the vault reads it (the app's JSON provider): UTF-8 only, arrays and objects
nested at most ``MAX_DEPTH`` levels deep, numbers of at most ``MAX_NUMBER_LENGTH``
characters that a double can hold, and no ``NaN`` or ``Infinity`` (which are not JSON).

Python's parser recurses once per level (50,000 ``[`` end in a ``RecursionError``) and
refuses integers of more than 4,300 digits with a ``ValueError``: the depth is counted
before parsing, without recursion, and numbers are measured before they are converted, so
neither escapes. A document too deep is a 422 ``json_too_deep``; a number the vault does not
take is a 422 naming where it stands; what is not JSON at all stays a 400 (Flask's
``BadRequest``, which the error mapper renders as ``malformed_json``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

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


class LimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, reading with ``load`` (``request.get_json`` included)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return load(s, **kwargs)
