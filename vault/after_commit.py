"""What follows a privacy desk's work once its transaction has committed: an erasure's traces
outside the database go, then the desk's message goes out (the portal, the privacy-request
API and the admin UI all use the desk so)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from vault import runtime
from vault.db import db, purge_sqlite_wal
from vault.logs import get_logger
from vault.mail import MailNotSent, OutboxMailer
from vault.privacy.desk import PrivacyDesk
from vault.privacy.outcomes import Outgoing

log = get_logger("vault.privacy")

# Mail over SMTP is handed to a background thread so that its latency cannot tell a known
# address from an unknown one; the outbox folder is written at once.
_background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vault-mail")


def deliver(outgoing: Outgoing | None, request_id: str) -> None:
    """Send after the commit, with the request's id as the message's reference (so that an
    erasure finds it again). A failure is logged (by request id only) and not shown: the
    answer must not depend on whether a message went out."""
    if outgoing is None:
        return
    sender = runtime.mailer()

    def send() -> None:
        try:
            sender.send(outgoing.to, outgoing.subject, outgoing.body, reference=request_id)
        except MailNotSent:
            log.error("privacy.mail_not_sent", privacy_request=request_id)

    if isinstance(sender, OutboxMailer):
        send()
    else:
        _background.submit(send)


def finish_erasure(desk: PrivacyDesk) -> None:
    """Once the transaction of ``desk``'s work has committed, an erasure's traces outside the
    database go too: the erased rows' old pages in SQLite's WAL, and the messages kept about
    the customer's privacy requests (the outbox's files: address and code). Nothing when the
    desk erased nothing."""
    if not desk.erased:
        return
    purge_sqlite_wal(db.engine)
    runtime.mailer().forget(desk.erased_mail)


def follow_up(desk: PrivacyDesk, outgoing: Outgoing | None, request_id: str) -> None:
    """After the commit: an erasure's traces go, then the message goes out (the portal, the
    privacy-request API and the admin UI all use the desk so)."""
    db.after_commit(lambda: finish_erasure(desk))
    db.after_commit(lambda: deliver(outgoing, request_id))
