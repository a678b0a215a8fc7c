"""Verifying the vault's webhook deliveries (Standard Webhooks: ``webhook-id``,
``webhook-timestamp``, ``webhook-signature``), with the ``standardwebhooks`` package."""

from __future__ import annotations

import json
from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from vault_client.errors import WebhookInvalid
from vault_client.models import Event


def verify_webhook(secret: str, body: bytes | str, headers: Mapping[str, str]) -> Event:
    """The event of a delivery whose signature (under the subscription's ``secret``,
    ``whsec_...``) and time stamp (within five minutes) verify; raises ``WebhookInvalid``
    otherwise. ``body`` is the request body exactly as received."""
    text = body.decode() if isinstance(body, bytes) else body
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        Webhook(secret).verify(text, lowered)
    except WebhookVerificationError as exc:
        raise WebhookInvalid(str(exc)) from None
    return Event.from_body(json.loads(text))
