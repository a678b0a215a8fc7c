"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), collecting what it is given."""

from __future__ import annotations

import errno
import socket
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class CollectingHandler:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self, refuse_recipients: bool = False) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse_recipients = refuse_recipients

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_recipients:
            # Real relays echo the address in their reply; the mailer must not pass it on.
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def start_smtp_server(handler: CollectingHandler, **smtp_options: Any) -> Controller:
    """A server on 127.0.0.1 and a free port. aiosmtpd cannot bind port 0 (it connects to the
    port it was given to check it is up), so a free port is picked and, should another xdist
    worker take it first, picked again."""
    for _ in range(5):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, server_hostname="smtp.test", **smtp_options
        )
        try:
            controller.start()
        except OSError as exc:
            controller.loop.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return controller
    raise RuntimeError("no free port for the test SMTP server")
