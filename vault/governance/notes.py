"""The free text staff write on governance records, sealed at rest (``vault.crypto.notes``):
an access request's justification, a legal hold's reason and lift reason. Rows written
before notes were sealed keep their plaintext until `vault init` seals them
(``seal_legacy_notes``); until then they are read as they are."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.crypto.notes import NoteCipher
from vault.governance.models import AccessRequest, LegalHold


def justification_place(request_id: str) -> str:
    """Where an access request's justification belongs (its ciphertext's associated data)."""
    return f"access_request:{request_id}:justification"


def hold_place(hold_id: str, column: str) -> str:
    """Where a legal hold's ``reason`` or ``lift_reason`` belongs."""
    return f"legal_hold:{hold_id}:{column}"


def read_note(
    notes: NoteCipher, where: str, sealed: bytes | None, legacy: str | None
) -> str | None:
    """The text of a note: the sealed one opened, or a legacy row's plaintext; None when
    there is none (never written, or gone with an erasure). Raises ``NoteUnreadable``."""
    if sealed is not None:
        return notes.open(where, sealed)
    return legacy


def justification_of(request: AccessRequest, notes: NoteCipher) -> str:
    """An access request's justification in clear (for its readers)."""
    where = justification_place(request.id)
    return read_note(notes, where, request.justification_ciphertext, request.justification) or ""


def reasons_of(hold: LegalHold, notes: NoteCipher) -> tuple[str | None, str | None]:
    """A legal hold's reason and lift reason in clear (None: not given, or erased)."""
    return (
        read_note(notes, hold_place(hold.id, "reason"), hold.reason_ciphertext, hold.reason),
        read_note(
            notes, hold_place(hold.id, "lift_reason"), hold.lift_reason_ciphertext, hold.lift_reason
        ),
    )


def seal_legacy_notes(session: Session, notes: NoteCipher) -> list[str]:
    """Seal the notes still kept in plaintext (rows written before notes were sealed) and
    clear their plaintext; returns what changed (nothing on a second run). Flushes."""
    requests = list(
        session.scalars(sa.select(AccessRequest).where(AccessRequest.justification.is_not(None)))
    )
    for request in requests:
        place = justification_place(request.id)
        request.justification_ciphertext = notes.seal(place, request.justification or "")
        request.justification = None
    holds = list(
        session.scalars(
            sa.select(LegalHold).where(
                sa.or_(LegalHold.reason.is_not(None), LegalHold.lift_reason.is_not(None))
            )
        )
    )
    for hold in holds:
        if hold.reason is not None:
            hold.reason_ciphertext = notes.seal(hold_place(hold.id, "reason"), hold.reason)
            hold.reason = None
        if hold.lift_reason is not None:
            where = hold_place(hold.id, "lift_reason")
            hold.lift_reason_ciphertext = notes.seal(where, hold.lift_reason)
            hold.lift_reason = None
    session.flush()
    changes = []
    if requests:
        changes.append(f"encrypted the justification of {len(requests)} access requests")
    if holds:
        changes.append(f"encrypted the reasons of {len(holds)} legal holds")
    return changes
