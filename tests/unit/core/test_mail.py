"""The mailers: one conformance test run against the outbox and against SMTP (a real local
server), the failure modes, the choice by settings, and no address or code in the logs."""

from __future__ import annotations

import email.policy
import io
import json
import logging
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.smtp import CollectingHandler, start_smtp_server
from vault.config import load_settings
from vault.mail import Mailer, MailNotSent, OutboxMailer, SMTPMailer, mailer_from_settings

SENDER = "privacy@vault.test"
RECIPIENT = "jane.doe@customer.test"
SUBJECT = "Your one-time code"
CODE = "QX7-K4M-9WZ"  # letters: a digits-only code could turn up in a timestamp or id
BODY = f"Hello,\n\nyour one-time code is:\n\n{CODE}\n\nIt expires in 15 minutes.\n"


@dataclass
class Transport:
    """A mailer and a way to read back, as parsed messages, what it delivered."""

    mailer: Mailer
    delivered: Callable[[], list[bytes]]


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture(params=["outbox", "smtp"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Transport:
    if request.param == "outbox":
        folder = tmp_path / "outbox"

        def outbox_files() -> list[bytes]:
            return [path.read_bytes() for path in sorted(folder.glob("*.eml"))]

        return Transport(OutboxMailer(folder, SENDER), outbox_files)
    handler: CollectingHandler = request.getfixturevalue("smtp_handler")
    server: Controller = request.getfixturevalue("smtp_server")

    def received() -> list[bytes]:
        for envelope in handler.envelopes:
            assert envelope.mail_from == SENDER
        return [bytes(envelope.original_content or b"") for envelope in handler.envelopes]

    return Transport(SMTPMailer(server.hostname, server.port, SENDER), received)


def test_a_message_arrives_with_its_headers_and_the_code_alone_on_a_line(
    transport: Transport,
) -> None:
    transport.mailer.send(RECIPIENT, SUBJECT, BODY)

    delivered = transport.delivered()
    assert len(delivered) == 1
    message = parse(delivered[-1])
    assert message["To"] == RECIPIENT
    assert message["From"] == SENDER
    assert message["Subject"] == SUBJECT
    assert message["Date"] is not None
    assert message["Message-ID"].endswith("@vault.test>")
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    # 7bit: the code is readable in the raw message, not hidden by base64 or quoted-printable.
    assert message["Content-Transfer-Encoding"] == "7bit"
    assert CODE.encode() in delivered[-1].splitlines()
    assert CODE in message.get_content().splitlines()


def test_a_utf8_subject_and_body_arrive_unchanged(transport: Transport) -> None:
    body = f"Grüße, Zoë!\n{CODE}\n"
    transport.mailer.send(RECIPIENT, "Ihr Einmalcode für das Datenschutzportal", body)

    message = parse(transport.delivered()[-1])
    assert message["Subject"] == "Ihr Einmalcode für das Datenschutzportal"
    # Compared by lines: on the wire (and in the outbox) lines end in CRLF.
    assert message.get_content().splitlines() == body.splitlines()


def test_a_line_break_in_a_header_is_refused(transport: Transport) -> None:
    with pytest.raises(ValueError, match="line break"):
        transport.mailer.send(f"{RECIPIENT}\r\nBcc: other@customer.test", SUBJECT, BODY)
    with pytest.raises(ValueError, match="line break"):
        transport.mailer.send(RECIPIENT, "Code\nBcc: other@customer.test", BODY)
    assert transport.delivered() == []


def test_a_reference_travels_with_a_message_and_forget_finds_it(transport: Transport) -> None:
    transport.mailer.send(RECIPIENT, SUBJECT, BODY, reference="prq_0123abcd")
    transport.mailer.send(RECIPIENT, SUBJECT, BODY, reference="prq_4567ef01")
    transport.mailer.send(RECIPIENT, SUBJECT, BODY)
    assert len(transport.delivered()) == 3
    forgotten = transport.mailer.forget(["prq_0123abcd"])
    kept = transport.delivered()
    if isinstance(transport.mailer, OutboxMailer):  # the relay keeps nothing of ours
        assert forgotten == 1
        assert len(kept) == 2
    else:
        assert forgotten == 0
        assert len(kept) == 3
    assert transport.mailer.forget([]) == 0
    for bad in ("jane.doe@customer.test", "../prq", "*", ""):
        with pytest.raises(ValueError, match="reference"):
            transport.mailer.forget([bad])
        if bad:
            with pytest.raises(ValueError, match="reference"):
                transport.mailer.send(RECIPIENT, SUBJECT, BODY, reference=bad)
    assert len(transport.delivered()) == len(kept)


def test_outbox_files_name_their_reference_never_the_address(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    mailer = OutboxMailer(folder, SENDER)
    mailer.send(RECIPIENT, SUBJECT, BODY, reference="prq_0123abcd")
    mailer.send(RECIPIENT, SUBJECT, BODY, reference="prq_0123abcdef")  # a longer id, kept
    (named, longer) = sorted(folder.iterdir(), key=lambda p: len(p.name))
    assert "-prq_0123abcd-" in named.name
    assert "jane" not in named.name
    assert mailer.forget(["prq_0123abcd"]) == 1
    assert list(folder.iterdir()) == [longer]


def test_outbox_files_are_private_sortable_and_complete(tmp_path: Path) -> None:
    folder = tmp_path / "instance" / "outbox"
    mailer = OutboxMailer(folder, SENDER)
    mailer.send(RECIPIENT, SUBJECT, "first\n")
    mailer.send(RECIPIENT, SUBJECT, "second\n")

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.iterdir())
    assert [path.suffix for path in files] == [".eml", ".eml"]  # no temporary file left
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    contents = [parse(path.read_bytes()).get_content().strip() for path in files]
    assert contents == ["first", "second"]


def test_an_unwritable_outbox_raises_mail_not_sent(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(MailNotSent) as caught:
        OutboxMailer(blocker, SENDER).send(RECIPIENT, SUBJECT, BODY)
    assert caught.value.status == 503
    assert caught.value.code == "mail_not_sent"
    assert RECIPIENT not in str(caught.value)


def test_smtp_to_a_closed_port_raises_mail_not_sent_without_personal_data() -> None:
    # A socket bound but not listening: connecting to it is refused, and no other process
    # can take the port while the test runs.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        mailer = SMTPMailer("127.0.0.1", port, SENDER, timeout=2.0)
        with pytest.raises(MailNotSent) as caught:
            mailer.send(RECIPIENT, SUBJECT, BODY)

    error = caught.value
    assert error.status == 503
    assert error.code == "mail_not_sent"
    assert f"127.0.0.1:{port}" in str(error)
    for text in (str(error), error.detail):
        assert RECIPIENT not in text
        assert CODE not in text
        assert BODY not in text
    assert error.__suppress_context__


def test_a_refused_recipient_is_not_echoed_in_the_error() -> None:
    handler = CollectingHandler(refuse_recipients=True)
    controller = start_smtp_server(handler)
    try:
        with pytest.raises(MailNotSent) as caught:
            SMTPMailer(controller.hostname, controller.port, SENDER).send(RECIPIENT, SUBJECT, BODY)
    finally:
        controller.stop()
    assert "recipient refused" in str(caught.value)
    assert RECIPIENT not in str(caught.value)
    assert handler.envelopes == []


def test_smtp_logs_in_when_a_username_is_given() -> None:
    logins: list[LoginPassword] = []

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        logins.append(auth_data)
        # handled=False: aiosmtpd then sends the 235 or 535 reply itself.
        ok = auth_data == LoginPassword(b"vault", b"relay-secret")
        return AuthResult(success=ok, handled=False)

    handler = CollectingHandler()
    # AUTH over a plain connection is only for this loopback test; aiosmtpd refuses it unless
    # told, and only warns when AUTH is also required, which it is not here.
    controller = start_smtp_server(handler, authenticator=authenticator, auth_require_tls=False)
    try:
        mailer = SMTPMailer(
            controller.hostname,
            controller.port,
            SENDER,
            username="vault",
            password="relay-secret",
        )
        mailer.send(RECIPIENT, SUBJECT, BODY)
        wrong = SMTPMailer(
            controller.hostname, controller.port, SENDER, username="vault", password="wrong"
        )
        with pytest.raises(MailNotSent, match="SMTPAuthenticationError"):
            wrong.send(RECIPIENT, SUBJECT, BODY)
    finally:
        controller.stop()
    assert logins[0] == LoginPassword(b"vault", b"relay-secret")
    # smtplib tries each mechanism the server offers before giving up on a wrong password.
    assert {login.password for login in logins[1:]} == {b"wrong"}
    assert len(handler.envelopes) == 1


def test_smtp_refuses_both_implicit_tls_and_starttls() -> None:
    from vault.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        SMTPMailer("mail.test", 465, SENDER, use_ssl=True, starttls=True)


def test_the_settings_choose_smtp_when_a_host_is_set(tmp_path: Path) -> None:
    settings = load_settings(
        {"instance_path": str(tmp_path)},
        environ={
            "VAULT_SMTP_HOST": "relay.test",
            "VAULT_SMTP_PORT": "587",
            "VAULT_SMTP_USERNAME": "vault",
            "VAULT_SMTP_PASSWORD": "relay-secret",
            "VAULT_SMTP_STARTTLS": "true",
            "VAULT_SMTP_SSL": "no",
            "VAULT_MAIL_FROM": "dpo@vault.test",
        },
    )
    assert "relay-secret" not in repr(settings)

    mailer = mailer_from_settings(settings)
    assert isinstance(mailer, SMTPMailer)
    assert (mailer.host, mailer.port, mailer.sender) == ("relay.test", 587, "dpo@vault.test")
    assert (mailer.username, mailer.password) == ("vault", "relay-secret")
    assert mailer.starttls is True
    assert mailer.use_ssl is False


def test_the_settings_choose_the_outbox_without_a_host(tmp_path: Path) -> None:
    settings = load_settings({"instance_path": str(tmp_path)}, environ={})
    assert (settings.smtp_host, settings.smtp_port) == ("", 25)
    assert settings.mail_from == "privacy@vault.localhost"

    mailer = mailer_from_settings(settings)
    assert isinstance(mailer, OutboxMailer)
    assert mailer.folder == tmp_path / "outbox"
    assert mailer.sender == "privacy@vault.localhost"


def test_a_bad_smtp_port_is_refused(tmp_path: Path) -> None:
    from vault.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="VAULT_SMTP_PORT"):
        load_settings({"instance_path": str(tmp_path)}, environ={"VAULT_SMTP_PORT": "smtp"})


def test_logs_name_the_message_but_never_the_address_subject_or_code(
    transport: Transport, log_stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    # The test SMTP server logs each recipient at INFO; it is not the vault, so it is quieted
    # and the whole output can be held to the rule.
    caplog.set_level(logging.WARNING, logger="mail.log")
    transport.mailer.send(RECIPIENT, SUBJECT, BODY)

    output = log_stream.getvalue()
    for secret in (RECIPIENT, "jane.doe", SUBJECT, CODE):
        assert secret not in output
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    sent = [record for record in records if record["event"] == "mail.sent"]
    assert len(sent) == 1
    message = parse(transport.delivered()[-1])
    assert sent[0]["message_id"] == message["Message-ID"]
    assert sent[0]["transport"] in {"outbox", "smtp"}
