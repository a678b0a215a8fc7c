"""The audit log's integrity, as the rest of the vault uses it: one ``AuditLog`` that knows the
audit key, the anchor and the unsealed limit, and seals, verifies and initialises.

The pieces: ``vault.audit.canonical`` (an event's text and MAC), ``vault.audit.chain`` (leaves,
seals, head), ``vault.audit.sealing`` (genesis and sealer), ``vault.audit.verification``,
``vault.audit.anchor`` (heads outside the database).

So altering, deleting, inserting, duplicating or reordering any sealed event changes a leaf or
the id list; deleting the newest seals contradicts the head; restoring an older head or an
older copy of the database contradicts the anchor; editing or forging an event before it is
sealed breaks its MAC; and nobody without the key can forge a MAC, a head or an anchor entry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.orm import Session

from vault.audit.anchor import AuditAnchor
from vault.audit.sealing import SealReport, initialise_log, seal_pending_events
from vault.audit.service import AUDIT_KEY_LABEL
from vault.audit.verification import VerifyReport, verify_audit_log

__all__ = [
    "AUDIT_KEY_LABEL",
    "AuditLog",
    "SealReport",
    "VerifyReport",
    "seal_pending_events",
    "verify_audit_log",
]


@dataclasses.dataclass(frozen=True)
class AuditLog:
    """The audit log of one vault: its key, its anchor and how long an event may wait
    unsealed before verification fails."""

    key: bytes = dataclasses.field(repr=False)
    anchor: AuditAnchor
    unsealed_limit: dt.timedelta

    def initialise(self, session: Session, *, now: dt.datetime) -> list[str]:
        """`vault init`'s part: the genesis head, its anchor, legacy events sealed."""
        return initialise_log(session, self.key, self.anchor, now=now)

    def seal(self, session: Session, *, now: dt.datetime, batch_size: int = 50_000) -> SealReport:
        """Seal the pending events (commits each seal, then anchors its head)."""
        return seal_pending_events(
            session, self.key, anchor=self.anchor, now=now, batch_size=batch_size
        )

    def verify(
        self,
        session: Session,
        *,
        now: dt.datetime,
        jobs: int = 1,
        database_url: str | None = None,
    ) -> VerifyReport:
        """Verify the whole log (see ``vault.audit.verification``)."""
        return verify_audit_log(
            session, self.key, anchor=self.anchor, now=now, unsealed_limit=self.unsealed_limit,
            jobs=jobs, database_url=database_url,
        )  # fmt: skip
