"""A typed client for Vault's HTTP API: ``VaultClient``, its errors, and ``verify_webhook``."""

from vault_client.client import VaultClient
from vault_client.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServerError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    VaultError,
    WebhookInvalid,
)
from vault_client.models import BatchItem, Customer, Event, FieldValue
from vault_client.webhooks import verify_webhook

__all__ = [
    "BadRequest",
    "BatchItem",
    "Conflict",
    "Customer",
    "Event",
    "FieldValue",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "VaultClient",
    "VaultError",
    "WebhookInvalid",
    "verify_webhook",
]
