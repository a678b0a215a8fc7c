"""Glue between the Flask app and the domain: the per-app key provider and clock, and the
per-request (or per-command) key ring and customer store. Domain code receives these
objects; it never reads Flask's globals itself."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from vault.audit.anchor import open_anchor
from vault.audit.integrity import AuditLog
from vault.audit.service import AUDIT_KEY_LABEL
from vault.auth.token_cache import TokenPrincipals
from vault.clock import Clock
from vault.config import Settings
from vault.contexts import context_globals, current_application
from vault.crypto.cursors import CURSOR_KEY_LABEL, CursorSigner
from vault.crypto.envelope import KeyRing
from vault.crypto.keys import KeyProvider, provider_from_settings
from vault.crypto.notes import NOTES_KEY_LABEL, NoteCipher
from vault.customers.catalogue import COUNTER as CATALOGUE
from vault.customers.catalogue import load_catalogue
from vault.customers.service import CustomerStore
from vault.db import db
from vault.mail import Mailer, mailer_from_settings
from vault.policies import versions


def settings() -> Settings:
    value: Settings = current_application().config["VAULT_SETTINGS"]
    return value


def clock() -> Clock:
    value: Clock = current_application().extensions["vault.clock"]
    return value


def now() -> dt.datetime:
    return clock().now()


def key_provider(app: Flask | None = None) -> KeyProvider:
    """The app's key provider, opened on first use (so that `vault init` can create it)."""
    app = app or current_application()
    provider: KeyProvider | None = app.extensions.get("vault.key_provider")
    if provider is None:
        provider = provider_from_settings(app.config["VAULT_SETTINGS"])
        app.extensions["vault.key_provider"] = provider
    return provider


def audit_log(app: Flask | None = None) -> AuditLog:
    """The app's audit log: its key (derived from the master key), its anchor and limit."""
    app = app or current_application()
    found: AuditLog | None = app.extensions.get("vault.audit_log")
    if found is None:
        config: Settings = app.config["VAULT_SETTINGS"]
        key = key_provider(app).derived_key(AUDIT_KEY_LABEL)
        anchor = open_anchor(config.audit_anchor, config.default_audit_anchor_file, key)
        limit = dt.timedelta(seconds=config.audit_unsealed_limit_seconds)
        found = app.extensions["vault.audit_log"] = AuditLog(key, anchor, limit)
    return found


def mailer() -> Mailer:
    """The app's mailer (settings decide: SMTP or the outbox folder), made on first use."""
    extensions = current_application().extensions
    found: Mailer | None = extensions.get("vault.mailer")
    if found is None:
        found = extensions["vault.mailer"] = mailer_from_settings(settings())
    return found


def token_principals() -> TokenPrincipals:
    """The process's table of bearer tokens' principals (``vault.auth.token_cache``)."""
    extensions = current_application().extensions
    found: TokenPrincipals | None = extensions.get("vault.token_principals")
    if found is None:
        found = extensions["vault.token_principals"] = TokenPrincipals()
    return found


def note_cipher() -> NoteCipher:
    """The cipher of staff's free-text notes (``vault.crypto.notes``)."""
    return NoteCipher(key_provider().derived_key(NOTES_KEY_LABEL))


def cursor_signer() -> CursorSigner:
    """The signer of list cursors (``vault.crypto.cursors``)."""
    return CursorSigner(key_provider().derived_key(CURSOR_KEY_LABEL))


def keyring() -> KeyRing:
    """This request's key ring: unwrapped data keys never outlive the request."""
    values = context_globals()
    ring: KeyRing | None = values.get("_vault_keyring")
    if ring is None:
        ring = values._vault_keyring = KeyRing(key_provider())
    return ring


def change_stamps() -> dict[str, int]:
    """The governance change stamps as this request first saw them (one query)."""
    values = context_globals()
    stamps: dict[str, int] | None = values.get("_vault_stamps")
    if stamps is None:
        stamps = values._vault_stamps = versions.current_all(db.session)
    return stamps


def customer_store() -> CustomerStore:
    values = context_globals()
    store: CustomerStore | None = values.get("_vault_customer_store")
    if store is None:
        session = db.session
        catalogue = load_catalogue(session, stamp=change_stamps().get(CATALOGUE, 0))
        store = values._vault_customer_store = CustomerStore(
            session, keyring(), catalogue, now=now(), regions=settings().region_set
        )
    return store
