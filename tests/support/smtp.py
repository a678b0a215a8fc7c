"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), collecting what it is given."""

from __future__ import annotations

import asyncio
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


class PortZeroController(Controller):
    """A controller whose server is bound to port 0: once the server listens, the port the
    kernel chose is read back from its socket, before aiosmtpd connects to it to check that
    it is up (and before anybody is told the port)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def start_smtp_server(handler: CollectingHandler, **smtp_options: Any) -> Controller:
    """A started server on 127.0.0.1, on a port of its own (``controller.port``)."""
    controller = PortZeroController(
        handler, hostname="127.0.0.1", port=0, server_hostname="smtp.test", **smtp_options
    )
    controller.start()
    return controller
