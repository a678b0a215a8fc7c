"""Outgoing mail behind a small ``Mailer`` protocol: an SMTP relay when one is configured, an
outbox folder of ``.eml`` files otherwise (development, tests, and sites that hand mail over
by picking files up).

Mail carries personal data (an address, one-time codes), so nothing here logs or raises with
the recipient, the subject or the body; a sent message is logged by its Message-ID only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import email.utils
import os
import re
import secrets
import smtplib
import ssl
import tempfile
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from vault.config import Settings
from vault.errors import ConfigurationError, VaultError
from vault.logs import get_logger

log = get_logger(__name__)

# RFC 5322 limits a line to 998 characters; a body within it can travel as 7bit, unchanged.
_MAX_7BIT_LINE = 998


class MailNotSent(VaultError, status=503, code="mail_not_sent", title="Mail Not Sent"):
    """The message could not be handed over to the mail transport."""


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str, *, reference: str = "") -> None:
        """Hand one plain-text (UTF-8) message for ``to`` over to the transport.

        ``reference`` names what the message is about (a privacy request's id, never an
        address), so that ``forget`` can find it again. Returning means the transport
        accepted it, not that it was delivered. Raises ``MailNotSent`` when the message
        could not be handed over, and ``ValueError`` when ``to`` or ``subject`` contains a
        line break or ``reference`` is not an id (``REFERENCE``).
        """
        ...

    def forget(self, references: Iterable[str]) -> int:
        """Delete what this side keeps of the messages sent with these references (after
        the erasure of the customer they were about); returns how many were deleted. What
        a relay has taken is gone from our side already. Raises ``ValueError`` for a
        reference that is not an id."""
        ...


# A message's reference: an id (letters, digits, underscore), safe in a file name.
REFERENCE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _check_reference(reference: str) -> str:
    if not REFERENCE.fullmatch(reference):
        raise ValueError("a mail reference must be an id: letters, digits and underscores")
    return reference


def compose_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """Build the message every transport sends: From, To, Subject, Date, Message-ID and a
    ``text/plain; charset=utf-8`` body.

    An ASCII body whose lines fit RFC 5322 is sent as 7bit, byte for byte, so a reader sees
    each line (a one-time code, say) as written; any other body is quoted-printable. Raises
    ``ValueError`` when ``to`` or ``subject`` contains a line break (header injection).
    """
    for name, value in (("to", to), ("subject", subject)):
        if "\r" in value or "\n" in value:
            raise ValueError(f"{name} must not contain a line break")
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC), usegmt=True)
    _, _, domain = sender.rpartition("@")
    # A domain of our own keeps make_msgid from asking DNS for this host's name.
    message["Message-ID"] = email.utils.make_msgid(domain=domain or "vault.localhost")
    lines = body.splitlines()
    plain = body.isascii() and all(len(line) <= _MAX_7BIT_LINE for line in lines)
    message.set_content(body, charset="utf-8", cte="7bit" if plain else "quoted-printable")
    return message


class OutboxMailer:
    """Writes each message as one ``.eml`` file in ``folder``, named so that the names sort by
    the time they were written, with its reference when it has one
    (``20261125T153000.123456Z-prq_0a1b...-1a2b3c4d.eml``; never an address)."""

    transport = "outbox"

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, to: str, subject: str, body: str, *, reference: str = "") -> None:
        """Write the message to a new file (mode 0600) in the folder, creating the folder
        (mode 0700) if needed. A reader never sees a partial file: it is written under a
        temporary name and renamed. Raises ``MailNotSent`` when the file cannot be written,
        ``ValueError`` as ``compose_message`` does and for a reference that is not an id."""
        tag = f"{_check_reference(reference)}-" if reference else ""
        message = compose_message(self.sender, to, subject, body)
        now = dt.datetime.now(dt.UTC)
        name = f"{now:%Y%m%dT%H%M%S.%f}Z-{tag}{secrets.token_hex(4)}.eml"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._write_atomically(self.folder / name, message.as_bytes())
        except OSError as exc:
            raise MailNotSent(
                f"cannot write to the outbox {self.folder} ({exc.strerror or type(exc).__name__})"
            ) from exc
        log.info("mail.sent", transport=self.transport, message_id=message["Message-ID"])

    def forget(self, references: Iterable[str]) -> int:
        """Delete the outbox files of messages sent with these references; returns how many.
        Raises ``ValueError`` for a reference that is not an id."""
        patterns = [f"*Z-{_check_reference(r)}-*.eml" for r in references]
        if not patterns or not self.folder.is_dir():
            return 0
        deleted = 0
        for pattern in patterns:
            for path in self.folder.glob(pattern):
                path.unlink(missing_ok=True)
                deleted += 1
        log.info("mail.forgotten", transport=self.transport, messages=deleted)
        return deleted

    def _write_atomically(self, path: Path, data: bytes) -> None:
        # mkstemp creates the file with mode 0600; the leading dot and the suffix keep it out of
        # anything that picks up "*.eml" until the rename.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclasses.dataclass(eq=False, repr=False)  # a repr would show the password
class SMTPMailer:
    """Sends each message over its own connection to an SMTP relay."""

    transport = "smtp"

    host: str
    port: int
    sender: str
    _: dataclasses.KW_ONLY
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 10.0

    def __post_init__(self) -> None:
        """Raises ``ConfigurationError`` when both ``starttls`` and ``use_ssl`` are asked:
        a connection is either TLS from the start or upgraded, not both."""
        if self.starttls and self.use_ssl:
            raise ConfigurationError("SMTP takes either implicit TLS or STARTTLS, not both")

    def send(self, to: str, subject: str, body: str, *, reference: str = "") -> None:
        """Connect, upgrade with STARTTLS and log in when configured, and send the message.

        Raises ``MailNotSent`` on any SMTP or network failure (refused connection, timeout,
        failed TLS or login, a refused sender or recipient); its message names the server and
        the failure, never the recipient or the body. ``ValueError`` as ``compose_message``
        and for a reference that is not an id (the relay is not told it).
        """
        if reference:
            _check_reference(reference)
        message = compose_message(self.sender, to, subject, body)
        try:
            with self._connect() as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message, from_addr=self.sender, to_addrs=[to])
        except OSError as exc:  # smtplib.SMTPException is an OSError
            # "from None": the original exception and its message may carry the recipient
            # (SMTPRecipientsRefused does), and a logged traceback must not show it.
            raise MailNotSent(
                f"the SMTP server {self.host}:{self.port} did not take the message "
                f"({_describe(exc)})"
            ) from None
        log.info("mail.sent", transport=self.transport, message_id=message["Message-ID"])

    def forget(self, references: Iterable[str]) -> int:
        """Nothing to delete: a message the relay took is kept nowhere on this side. Raises
        ``ValueError`` for a reference that is not an id."""
        for reference in references:
            _check_reference(reference)
        return 0

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


def _describe(exc: OSError) -> str:
    """A reason for a failed send that holds no address: SMTP replies and the exceptions that
    carry them may echo the recipient, so only their codes and types are kept."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipient refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}, reply {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPException):
        return type(exc).__name__
    return exc.strerror or type(exc).__name__


def mailer_from_settings(settings: Settings) -> Mailer:
    """The mailer the settings name: SMTP to ``smtp_host`` when it is set, otherwise the
    outbox folder ``<instance_path>/outbox``. Raises ``ConfigurationError`` when both
    ``smtp_ssl`` and ``smtp_starttls`` are set."""
    if settings.smtp_host:
        return SMTPMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            starttls=settings.smtp_starttls,
            use_ssl=settings.smtp_ssl,
        )
    return OutboxMailer(settings.instance_path / "outbox", settings.mail_from)
