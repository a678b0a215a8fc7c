"""structlog set-up: JSON lines in production, a console renderer in development, the request
id on every line, and a processor that drops the value of any personal or secret key.

Personal values must never be logged in the first place; the redaction processor is the net
under that rule, not the rule itself.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"

# Keys whose value is personal or secret wherever they appear in an event.
_PERSONAL_KEYS: set[str] = {
    "authorization",
    "birth_date",
    "company",
    "cookie",
    "email",
    "evidence",
    "family_name",
    "fields",
    "given_name",
    "interests",
    "job_title",
    "national_id",
    "new_password",
    "one_time_code",
    "otp",
    "password",
    "phone",
    "postal_address",
    "secret",
    "secret_key",
    "text",
    "token",
    "value",
    "values",
}


def register_personal_keys(names: Iterable[str]) -> None:
    """Add catalogue field names (or any other sensitive key) to the redaction list."""
    _PERSONAL_KEYS.update(name.lower() for name in names)
    _SAFE_KEYS.clear()


# The keys seen on lines so far that are not personal (the same few names, line after line):
# only a key not among them is lowered and looked up in ``_PERSONAL_KEYS``.
_SAFE_KEYS: set[str] = set()
_MAX_SAFE_KEYS = 4096  # keys beyond these (none are expected) are looked up every time
_NESTED = (dict, list, tuple)


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 5:
        return REDACTED
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in _PERSONAL_KEYS else _redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact_personal_values(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace the value of every personal or secret key, at any depth."""
    for key in event_dict.keys() - _SAFE_KEYS:
        if key.lower() in _PERSONAL_KEYS:
            event_dict[key] = REDACTED
        elif len(_SAFE_KEYS) < _MAX_SAFE_KEYS:
            _SAFE_KEYS.add(key)
    for key in [k for k, v in event_dict.items() if isinstance(v, _NESTED)]:
        event_dict[key] = _redact(event_dict[key])
    return event_dict


class _Configurations:
    made = 0  # how many times ``configure_logging`` ran


class _NamedWriter(structlog.WriteLogger):
    """structlog's writer, with the name the vault's logger was asked for."""

    def __init__(self, file: TextIO, name: str = "") -> None:
        super().__init__(file)
        self.name = name


def _filtering_wrapper(level: str) -> type[Any]:
    return structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()])


def exception_without_message(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """An exception logged with a line (``exc_info``, ours or a library's) as its type and
    where it was raised (``error_type``, ``stack``), never its message or a traceback's text:
    a message may quote SQL, a connection string or a submitted value."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    kind, _error, trace = exc_info
    if kind is not None:
        event_dict.setdefault("error_type", kind.__name__)
        event_dict["stack"] = "".join(traceback.format_list(traceback.extract_tb(trace)))
    return event_dict


def configure_logging(
    fmt: str = "console", level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Route structlog and the standard library's logging through one renderer to one stream.

    The vault's own lines (structlog's) are rendered by structlog and written to the stream
    directly: one line is one processor chain and one write, without the standard library's
    records, handlers and second formatting pass (the request log line cost about three
    times as much through them). Other libraries' lines (the standard library's) meet the
    same processors through the handler's formatter, so both read alike."""
    _Configurations.made += 1  # the loggers made so far are remade under this one
    output = stream or sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_values,
        exception_without_message,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=lambda name="", *_: _NamedWriter(output, name),
        wrapper_class=_filtering_wrapper(level),
        cache_logger_on_first_use=False,  # a later configure_logging (a test's) applies
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_vault_handler", False):
            root.removeHandler(old)
    handler._vault_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # werkzeug's own access log repeats ours and prints query strings; keep its warnings only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("casbin").setLevel(logging.WARNING)  # it logs every policy load


class _VaultLogger:
    """The vault's logger ``name``: structlog's bound logger for it, made once per
    configuration. (structlog makes it anew on every call unless told to keep it for good,
    which would keep it past a later ``configure_logging``; making it was a fifth of the
    cost of a request's log line.)"""

    __slots__ = ("_bound", "_made_in", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._bound: Any = None
        self._made_in = -1

    def _logger(self) -> Any:
        if self._made_in != _Configurations.made:
            self._bound = structlog.get_logger(self.name).bind()
            self._made_in = _Configurations.made
        return self._bound

    # The levels the vault logs at, as methods: found at once, where ``__getattr__`` is
    # asked only after a failed lookup.
    def debug(self, event: str, **values: Any) -> Any:
        return self._logger().debug(event, **values)

    def info(self, event: str, **values: Any) -> Any:
        return self._logger().info(event, **values)

    def warning(self, event: str, **values: Any) -> Any:
        return self._logger().warning(event, **values)

    def error(self, event: str, **values: Any) -> Any:
        return self._logger().error(event, **values)

    def exception(self, event: str, **values: Any) -> Any:
        return self._logger().exception(event, **values)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._logger(), attribute)


def get_logger(name: str) -> Any:
    """The vault's logger ``name`` (its lines carry it as ``logger``)."""
    return _VaultLogger(name)
