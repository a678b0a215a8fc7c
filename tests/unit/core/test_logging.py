"""Log lines: JSON shape, the request id on each, and no secret or personal value."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

import structlog
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, bearer, log_in
from vault.logs import REDACTED, redact_personal_values


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_each_request_logs_one_json_line_with_its_request_id(
    client: FlaskClient, log_stream: io.StringIO
) -> None:
    client.get("/healthz", headers={"X-Request-ID": "req-42"})
    records = [r for r in lines(log_stream) if r["event"] == "request.completed"]
    assert len(records) == 1
    record = records[0]
    assert record["request_id"] == "req-42"
    assert record["level"] == "info"
    assert record["status"] == 200
    assert record["path"] == "/healthz"
    assert {"timestamp", "logger", "duration_ms", "method"} <= set(record)


def test_no_password_or_token_reaches_a_log_line(
    client: FlaskClient,
    make_user: Callable[..., str],
    make_token: Callable[..., str],
    log_stream: io.StringIO,
) -> None:
    make_user("admin@example.com")
    token = make_token()
    assert log_in(client, "admin@example.com", "wrong password value").status_code == 401
    assert log_in(client, "admin@example.com", PASSWORD).status_code == 302
    client.get("/api/v1/me", headers=bearer(token))
    client.get("/api/v1/me?email=jane.doe@example.org", headers=bearer(token[:-3] + "xyz"))
    output = log_stream.getvalue()
    assert output
    for secret in (
        PASSWORD,
        "wrong password value",
        token,
        token.split("_", 2)[2],
        "jane.doe@example.org",
    ):
        assert secret not in output
    for record in lines(log_stream):
        assert "request_id" in record


def test_the_redaction_processor_drops_personal_values_at_any_depth() -> None:
    event = {
        "event": "x",
        "email": "jane@example.com",
        "Password": "hunter22",
        "context": {"phone": "+4412345678", "nested": [{"national_id": "AB123"}], "count": 3},
        "field_names": ["email", "phone"],
    }
    result = redact_personal_values(None, "info", dict(event))
    assert result["email"] == REDACTED
    assert result["Password"] == REDACTED
    assert result["context"]["phone"] == REDACTED
    assert result["context"]["nested"][0]["national_id"] == REDACTED
    assert result["context"]["count"] == 3
    assert result["field_names"] == ["email", "phone"]


def test_structlog_calls_are_redacted_in_the_rendered_output(log_stream: io.StringIO) -> None:
    structlog.get_logger("t").info("oops", email="jane@example.com", token="vault_abc")
    output = log_stream.getvalue()
    assert "jane@example.com" not in output
    assert "vault_abc" not in output
    assert lines(log_stream)[-1]["email"] == REDACTED


def test_an_exception_is_logged_by_its_type_and_place_never_its_message(
    log_stream: io.StringIO,
) -> None:
    """A library's error message may quote SQL with a value in it (psycopg does for a unique
    violation): the line names the exception's type and where it was raised, never the
    message, for the vault's loggers and the standard library's alike."""
    leak = "duplicate key value violates unique constraint: Key (email)=(jane@example.com)"

    def fail() -> None:
        raise ValueError(leak)

    try:
        fail()
    except ValueError:
        logging.getLogger("sqlalchemy.pool").exception("Exception closing cursor")
        structlog.get_logger("vault.t").exception("job.failed")
    output = log_stream.getvalue()
    assert "jane@example.com" not in output
    assert "Traceback" not in output
    library, ours = lines(log_stream)[-2:]
    for record in (library, ours):
        assert record["error_type"] == "ValueError"
        assert "in fail" in record["stack"]
        assert "exception" not in record
    assert library["event"] == "Exception closing cursor"
    assert ours["event"] == "job.failed"
