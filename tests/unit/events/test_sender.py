"""One webhook attempt against receivers that misbehave: slow, redirecting, answering with a
huge body, refusing the connection, or at a link-local address. Each costs bounded time and
memory, is an outcome with a short error code, and is never followed elsewhere."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.ports import free_port
from vault.events.sender import MAX_ANSWER_BYTES, Attempt, Sender

HUGE = 10 * 1024 * 1024
followed: list[str] = []


class Misbehaving(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("location", "/elsewhere")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        if self.path == "/elsewhere":
            followed.append(self.path)
        if self.path == "/huge":
            self.send_response(200)
            self.send_header("content-length", str(HUGE))
            self.end_headers()
            chunk = b"x" * 65536
            with contextlib.suppress(OSError):
                for _ in range(HUGE // len(chunk)):
                    self.wfile.write(chunk)
            return
        status = 500 if self.path == "/broken" else 204
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def attempt(url: str) -> Attempt:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    return Attempt(1, "sub_1", url, "evt_1", b'{"id":"evt_1"}', secret, 0,
                   dt.datetime.now(dt.UTC))  # fmt: skip


def sender(**changes: Any) -> Sender:
    settings = {"connect_timeout": 1.0, "timeout": 0.5, "allow_link_local": False, **changes}
    return Sender(**settings)


def test_a_slow_receiver_times_out_in_bounded_time(receiver: str) -> None:
    began = time.monotonic()
    outcome = sender().send(attempt(receiver + "/slow"))
    assert (outcome.status_code, outcome.error) == (None, "timeout")
    assert time.monotonic() - began < 1.5


def test_a_redirect_is_not_followed(receiver: str) -> None:
    outcome = sender().send(attempt(receiver + "/redirect"))
    assert (outcome.status_code, outcome.error) == (307, "redirect")
    assert followed == []


def test_a_huge_answer_is_read_no_further_than_the_limit(receiver: str) -> None:
    tracemalloc.start()
    try:
        outcome = sender(timeout=5.0).send(attempt(receiver + "/huge"))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (outcome.status_code, outcome.error) == (200, "")
    assert peak < 4 * MAX_ANSWER_BYTES + 1024 * 1024  # nowhere near the 10 MB it was sent


def test_errors_and_refusals_are_short_codes(receiver: str) -> None:
    assert sender().send(attempt(receiver + "/broken")).error == "http_error"
    closed = f"http://127.0.0.1:{free_port()}/hooks"
    assert sender().send(attempt(closed)).error == "connection_refused"
    metadata = sender().send(attempt("http://169.254.169.254/latest/meta-data"))
    assert metadata.error == "address_refused"
    assert sender().send(attempt(receiver + "/ok")).error == ""
