"""Interactions: purchases, support tickets, emails, calls, surveys. The free text is
encrypted under the customer's data key and bound to the interaction's id."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import secrets
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from vault.codes import DESCRIPTION, is_code
from vault.customers.models import INTERACTION_KINDS, Interaction
from vault.customers.service import CustomerStore
from vault.errors import ValidationFailed

MAX_TEXT = 20_000


@dataclasses.dataclass(slots=True)
class InteractionRecord:
    id: str
    customer_id: str
    kind: str
    channel: str
    occurred_at: dt.datetime
    amount: decimal.Decimal | None
    currency: str | None
    text: str | None


def interaction_dict(item: InteractionRecord | Interaction, text: str | None) -> dict[str, Any]:
    """An interaction as the API and a customer's export show it, with its text (decrypted
    by the caller, or ``None``)."""
    return {
        "id": item.id,
        "kind": item.kind,
        "channel": item.channel,
        "occurred_at": item.occurred_at.isoformat(),
        "amount": str(item.amount) if item.amount is not None else None,
        "currency": item.currency,
        "text": text,
    }


def _text_field(interaction_id: str) -> str:
    return f"interaction:{interaction_id}:text"


def add_interaction(
    store: CustomerStore,
    customer_id: str,
    *,
    kind: str,
    occurred_at: dt.datetime | None = None,
    channel: str = "",
    amount: Any = None,
    currency: str | None = None,
    text: str | None = None,
) -> str:
    """Record an interaction; returns its id. Raises ``NotFound`` and ``ValidationFailed``
    (among others for a channel that is neither empty nor code-shaped, ``vault.codes``)."""
    errors: dict[str, list[str]] = {}
    if kind not in INTERACTION_KINDS:
        errors["kind"] = [f"must be one of {', '.join(INTERACTION_KINDS)}"]
    if len(channel) > 32:
        errors["channel"] = ["must be at most 32 characters"]
    elif channel and not is_code(channel):
        # a channel outlives anonymisation: a code, never free text that could name someone
        errors["channel"] = [f"must be empty or {DESCRIPTION}"]
    if text is not None and len(text) > MAX_TEXT:
        errors["text"] = [f"must be at most {MAX_TEXT} characters"]
    value: decimal.Decimal | None = None
    if amount is not None:
        try:
            value = decimal.Decimal(str(amount)).quantize(decimal.Decimal("0.01"))
        except decimal.InvalidOperation:
            errors["amount"] = ["must be a number"]
        else:
            if abs(value) >= 10**12:
                errors["amount"] = ["is too large"]
        if not currency or len(currency) != 3 or not currency.isalpha():
            errors["currency"] = ["an amount needs a three-letter currency code"]
    if occurred_at is not None and occurred_at.tzinfo is None:
        errors["occurred_at"] = ["must carry a time zone"]
    if errors:
        raise ValidationFailed("the interaction is invalid", errors=errors)
    store.require_active(customer_id)
    interaction_id = "int_" + secrets.token_hex(16)
    ciphertext = None
    if text:
        cipher = store.cipher_for(customer_id)
        ciphertext = cipher.encrypt(_text_field(interaction_id), text.encode())
    store.session.add(
        Interaction(
            id=interaction_id,
            customer_id=customer_id,
            kind=kind,
            channel=channel,
            occurred_at=occurred_at or store.now,
            amount=value,
            currency=currency.upper() if currency and value is not None else None,
            text_ciphertext=ciphertext,
            created_at=store.now,
        )
    )
    store.session.flush()
    store.touch(customer_id)
    return interaction_id


def list_interactions(
    store: CustomerStore,
    customer_id: str,
    *,
    kinds: Collection[str] | None = None,
    with_text: bool = False,
    limit: int = 500,
) -> list[InteractionRecord]:
    """A customer's interactions, newest first; texts decrypted only when ``with_text``."""
    store.require_active(customer_id)
    query = sa.select(Interaction).where(Interaction.customer_id == customer_id)
    if kinds is not None:
        query = query.where(Interaction.kind.in_(sorted(kinds)))
    rows = store.session.scalars(query.order_by(Interaction.occurred_at.desc()).limit(limit))
    cipher = None
    records = []
    for item in rows:
        text = None
        if with_text and item.text_ciphertext is not None:
            if cipher is None:
                cipher = store.cipher_for(customer_id)
            text = cipher.decrypt(_text_field(item.id), item.text_ciphertext).decode()
        records.append(
            InteractionRecord(
                item.id, item.customer_id, item.kind, item.channel, item.occurred_at,
                item.amount, item.currency, text,
            )
        )  # fmt: skip
    return records
