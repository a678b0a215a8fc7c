"""The vault's session interface answers every request as Flask's own would: the same cookies,
the same ``Vary``, the same session in the view, with or without a cookie sent."""

from __future__ import annotations

import re

import pytest
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.test import TestResponse

from vault.extensions import SigningSessionInterface


def _app(interface: SecureCookieSessionInterface) -> Flask:
    app = Flask("sessions")
    app.secret_key = "s" * 40
    app.session_interface = interface

    @app.get("/untouched")
    def untouched() -> str:
        return "-"

    @app.get("/read")
    def read() -> str:
        return str(session.get("who"))

    @app.get("/write")
    def write() -> str:
        session["who"] = "someone"
        return "-"

    @app.get("/clear")
    def clear() -> str:
        session.clear()
        return "-"

    @app.get("/varied")
    def varied() -> tuple[str, dict[str, str]]:
        return str(session.get("who")), {"Vary": "Origin"}

    return app


def _answers(
    interface: SecureCookieSessionInterface, path: str, logged_in: bool
) -> list[TestResponse]:
    client = _app(interface).test_client()
    if logged_in:
        client.get("/write")
    return [client.get(path), client.get("/read")]  # the second tells what the first left


@pytest.mark.parametrize("path", ["/untouched", "/read", "/write", "/clear", "/varied"])
@pytest.mark.parametrize("logged_in", [False, True])
def test_the_answers_are_flasks(path: str, logged_in: bool) -> None:
    ours = _answers(SigningSessionInterface(), path, logged_in)
    flasks = _answers(SecureCookieSessionInterface(), path, logged_in)
    for mine, theirs in zip(ours, flasks, strict=True):
        assert mine.get_data() == theirs.get_data()
        assert _headers(mine) == _headers(theirs)


def _headers(answer: TestResponse) -> list[tuple[str, str]]:
    """The answer's headers, a cookie's signed value (which holds the second it was signed
    in) left out."""
    return sorted((name, re.sub(r"^([^=]+=)[^;]+", r"\1...", value) if name == "Set-Cookie"
                   else value) for name, value in answer.headers.items())  # fmt: skip


def test_a_request_without_cookies_gets_a_new_empty_session() -> None:
    app = _app(SigningSessionInterface())
    with app.test_request_context("/read") as context:
        opened = app.session_interface.open_session(app, context.request)
    assert opened is not None
    assert dict(opened) == {}
    assert not opened.modified
