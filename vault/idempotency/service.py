"""Idempotent creates (API.md §2): a creating request sent with an ``Idempotency-Key`` claims
the key for its principal before it does anything, in its own transaction; when it succeeds,
its answer is kept in the same transaction, so the answer is kept exactly when the work
committed. A second request with the key and the same request gets the first answer back and
creates nothing; with another request (body, route or purpose), ``IdempotencyKeyReused``. A
request that fails keeps nothing: its claim goes with its rollback, and the key may be used
again.

Two requests with one key at the same time: on PostgreSQL the second one's claim waits on the
first one's row until that transaction ends, then replays its answer (or, if it rolled back,
claims the key itself). A claim still at work when it is read (SQLite, which does not wait on
rows) is ``IdempotencyKeyInUse``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Collection, Mapping

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from vault.crypto.notes import NoteCipher
from vault.errors import BadRequest, Conflict, ValidationFailed
from vault.idempotency.models import IdempotentAnswer, answer_customers

KEY_LABEL = "vault/idempotent-answers/v1"
KEY_MAX_LENGTH = 255
_CLAIM_ATTEMPTS = 3


class IdempotencyKeyInvalid(BadRequest, code="idempotency_key_invalid"):
    """An ``Idempotency-Key`` that is empty, too long or not printable ASCII."""


class IdempotencyKeyReused(ValidationFailed, code="idempotency_key_reused"):
    """The key was used for another request (body, route or purpose) within its lifetime."""


class IdempotencyKeyInUse(Conflict, code="idempotency_key_in_use"):
    """A request with this key is still at work."""


def check_key(key: str) -> str:
    """``key`` if it is 1-255 printable ASCII characters; raises ``IdempotencyKeyInvalid``."""
    if not 0 < len(key) <= KEY_MAX_LENGTH or not all(" " <= c <= "~" for c in key):
        raise IdempotencyKeyInvalid(
            f"Idempotency-Key must be 1 to {KEY_MAX_LENGTH} printable ASCII characters"
        )
    return key


def request_digest(method: str, path: str, purpose: str, body: bytes) -> str:
    """What a request asks, as a digest: a JSON body counts by its content (key order and
    spacing aside), any other body by its bytes."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()  # fmt: skip
    except (ValueError, UnicodeDecodeError):
        canonical = body
    text = hashlib.sha256()
    for part in (method.encode(), path.encode(), purpose.encode(), canonical):
        text.update(len(part).to_bytes(8, "big") + part)
    return text.hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """An answer as it is kept and replayed: status, body, content type, the headers that
    belong to it (``ETag``, ``Location``), and the customers it is about."""

    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    customer_ids: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """A key claimed by the current request (its row, until the request's work ends)."""

    row_id: str


def _where(row_id: str) -> str:
    return f"idempotent_answers:{row_id}:answer"


@dataclasses.dataclass
class IdempotentAnswers:
    """The kept answers of one unit of work (``session``), sealed by ``cipher``, kept for
    ``keep`` after ``now``."""

    session: Session
    cipher: NoteCipher
    now: dt.datetime
    keep: dt.timedelta = dt.timedelta(hours=24)

    def claim(self, principal_id: str, key: str, digest: str) -> Claim | Answer:
        """Claim ``key`` for ``principal_id``'s request (``digest``: ``request_digest``), or
        the answer kept for it. Raises ``IdempotencyKeyReused`` (another request) or
        ``IdempotencyKeyInUse`` (a request still at work)."""
        key_digest = hashlib.sha256(check_key(key).encode()).hexdigest()
        self.session.execute(
            sa.delete(IdempotentAnswer).where(
                IdempotentAnswer.principal_id == principal_id,
                IdempotentAnswer.key_digest == key_digest,
                IdempotentAnswer.created_at < self.now - self.keep,
            )
        )
        for _attempt in range(_CLAIM_ATTEMPTS):
            row_id = "idem_" + secrets.token_hex(12)
            try:
                with self.session.begin_nested():
                    self.session.add(IdempotentAnswer(
                        id=row_id, principal_id=principal_id, key_digest=key_digest,
                        request_digest=digest, created_at=self.now,
                    ))  # fmt: skip
            except sa_exc.IntegrityError:
                found = self.session.scalars(
                    sa.select(IdempotentAnswer).where(
                        IdempotentAnswer.principal_id == principal_id,
                        IdempotentAnswer.key_digest == key_digest,
                    )
                ).one_or_none()
                if found is None:  # its request rolled back meanwhile: claim it again
                    continue
                if found.request_digest != digest:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was used with another request; use a new key"
                    ) from None
                if found.status is None or found.answer is None:
                    break
                return self._opened(found)
            else:
                return Claim(row_id)
        raise IdempotencyKeyInUse(
            "a request with this Idempotency-Key is still at work; retry in a moment"
        )

    def keep_answer(self, claim: Claim, answer: Answer) -> None:
        """Keep ``answer`` as the one for ``claim``'s key, in this transaction."""
        sealed = json.dumps({
            "status": answer.status, "content_type": answer.content_type,
            "headers": dict(answer.headers), "body": answer.body.decode(),
        })  # fmt: skip
        self.session.execute(
            sa.update(IdempotentAnswer)
            .where(IdempotentAnswer.id == claim.row_id)
            .values(status=answer.status, answer=self.cipher.seal(_where(claim.row_id), sealed))
        )
        if answer.customer_ids:
            customers = sa.table("customers", sa.column("id"))
            self.session.execute(
                sa.insert(answer_customers).from_select(
                    ["answer_id", "customer_id"],
                    sa.select(sa.literal(claim.row_id), customers.c.id).where(
                        customers.c.id.in_(sorted(set(answer.customer_ids)))
                    ),
                )
            )

    def _opened(self, row: IdempotentAnswer) -> Answer:
        assert row.answer is not None
        kept = json.loads(self.cipher.open(_where(row.id), row.answer))
        about = self.session.scalars(
            sa.select(answer_customers.c.customer_id).where(answer_customers.c.answer_id == row.id)
        )
        return Answer(status=kept["status"], body=kept["body"].encode(),
                      content_type=kept["content_type"], headers=kept["headers"],
                      customer_ids=tuple(sorted(about)))  # fmt: skip

    def purge(self) -> int:
        """Delete the answers older than ``keep``; returns how many went."""
        done = self.session.execute(
            sa.delete(IdempotentAnswer).where(IdempotentAnswer.created_at < self.now - self.keep)
        )
        return int(done.rowcount or 0)  # type: ignore[attr-defined]


def forget_answers_about(session: Session, customer_ids: Collection[str]) -> None:
    """Delete the kept answers about any of ``customer_ids`` (they are being erased: an
    answer may hold their values)."""
    if not customer_ids:
        return
    about = sa.select(answer_customers.c.answer_id).where(
        answer_customers.c.customer_id.in_(list(customer_ids))
    )
    session.execute(
        sa.delete(IdempotentAnswer)
        .where(IdempotentAnswer.id.in_(about))
        .execution_options(synchronize_session=False)
    )
