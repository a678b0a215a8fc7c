"""The answers kept for ``Idempotency-Key`` (API.md §2): one row per client and key, written
in the transaction of the request that created something, so that the answer is kept if and
only if the work committed. The answer itself may hold personal values (a customer's view) or
a secret shown once (a subscription's, a client's token): it is sealed under a key derived
from the master key, and the rows naming a customer go when that customer is erased."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, link_table


class IdempotentAnswer(Base):
    """The first answer to a creating request sent with an ``Idempotency-Key``. ``status``
    is NULL while the request that claimed the key is still at work (its transaction holds
    the row, so a second request with the key waits for it, then replays its answer)."""

    __tablename__ = "idempotent_answers"
    __table_args__ = (
        sa.UniqueConstraint("principal_id", "key_digest"),
        sa.Index("ix_idempotent_answers_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    principal_id: Mapped[str] = mapped_column(sa.String(64))
    # SHA-256 of the key (hex): the key is the client's text, kept as a digest like a token
    key_digest: Mapped[str] = mapped_column(sa.String(64))
    # SHA-256 (hex) of what the request asked: method, route, purpose and body
    request_digest: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    answer: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# Which customers a kept answer is about: it is forgotten when any of them is erased.
answer_customers = link_table(
    "idempotent_answer_customers",
    ("answer_id", "idempotent_answers.id"),
    ("customer_id", "customers.id"),
)
sa.Index("ix_idempotent_answer_customers_customer_id", answer_customers.c.customer_id)
