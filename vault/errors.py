"""The one error hierarchy of the vault. Each error carries its HTTP status and a stable
machine-readable ``code``; ``vault.api.errors`` maps them to ``application/problem+json``.

Messages (``detail``) must never contain a customer's value: name fields, never echo them.
What a message does quote of a client's input (a purpose code, a role name) goes through
``quoted``: a short prefix, with nothing in it that could act on a terminal, a log or a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from vault.text import UNSAFE

# How much of a client's input a message may quote.
QUOTE_LIMIT = 64

T = TypeVar("T")


def shown(text: str) -> str:
    """``text`` as a message may show a name a client chose: at most ``QUOTE_LIMIT``
    characters (then an ellipsis), each character that is not plain text (``vault.text``)
    replaced by U+FFFD."""
    cut = text[:QUOTE_LIMIT] + ("\u2026" if len(text) > QUOTE_LIMIT else "")
    return UNSAFE.sub("\ufffd", cut)


def quoted(value: object) -> str:
    """``value`` in quotes, as a message may quote a client's input (see ``shown``)."""
    return f"'{shown(str(value))}'"


def quoted_list(values: Sequence[object], limit: int = 10) -> str:
    """The first ``limit`` of ``values``, each ``quoted``, comma-separated (then an
    ellipsis)."""
    text = ", ".join(quoted(v) for v in values[:limit])
    return text + (", \u2026" if len(values) > limit else "")


class VaultError(Exception):
    """Base of every error the vault raises on purpose.

    ``title`` is the default ``detail``; the problem's own title is the one of its status
    (``vault.api.errors``), the same for every error of that status.
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal Server Error"

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        """An error declares what it changes of its base in its class line:
        ``class Gone(VaultError, status=410, code="gone", title="Gone"): ...``."""
        super().__init_subclass__(**kwargs)
        for name, value in {"status": status, "code": code, "title": title}.items():
            if value is not None:
                setattr(cls, name, value)

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may refine its class code
        self.errors = dict(errors) if errors else None
        self.extra = dict(extra) if extra else {}


def describe_errors(errors: Mapping[str, Sequence[str]] | None) -> str:
    """``{field: [messages]}`` as one line for people ("email: not an address; ...")."""
    return "; ".join(
        f"{name}: {', '.join(messages)}" for name, messages in sorted((errors or {}).items())
    )


class ConfigurationError(VaultError, code="configuration_error", title="Configuration Error"):
    """The settings are unusable; raised before the service starts."""


class BadRequest(VaultError, status=400, code="bad_request", title="Bad Request"): ...


class PurposeRequired(BadRequest, code="purpose_required", title="Purpose Required"): ...


class Unauthorized(VaultError, status=401, code="unauthorized", title="Unauthorized"): ...


class Forbidden(VaultError, status=403, code="forbidden", title="Forbidden"): ...


class PurposeNotAllowed(Forbidden, code="purpose_not_allowed", title="Purpose Not Allowed"): ...


class NotFound(VaultError, status=404, code="not_found", title="Not Found"): ...


class Conflict(VaultError, status=409, code="conflict", title="Conflict"): ...


class PreconditionFailed(
    VaultError, status=412, code="precondition_failed", title="Precondition Failed"
): ...


class ValidationFailed(
    VaultError, status=422, code="validation_failed", title="Unprocessable Content"
):
    """Input that cannot be accepted; ``errors`` maps field names to messages."""


class RateLimited(VaultError, status=429, code="rate_limited", title="Too Many Requests"): ...


def or_not_found(value: T | None, detail: str) -> T:
    """``value``, unless it is None (a row a look-up did not find): then ``NotFound``."""
    if value is None:
        raise NotFound(detail)
    return value
