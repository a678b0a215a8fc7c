"""The one place views get the vault's services from.

A view (the API, the admin UI, the portal) asks here for the service it needs, bound to the
request's unit of work (its session, which commits once when the request ends, or rolls back),
the app's clock, keys and mailer; it never opens a session, runs a query or commits itself.
What must follow the commit (an erasure's traces outside the database, a message going out)
is handed to the unit of work as an after-commit hook.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from flask import Flask

from vault import runtime
from vault.access.governed import GovernedAccess
from vault.after_commit import follow_up
from vault.audit.review import AuditReview
from vault.audit.service import AuditContext, record_event
from vault.audit_trail import aim, audit, refuse, request_context
from vault.auth.clients import ClientDirectory
from vault.auth.models import ApiClient, User
from vault.auth.principal import Principal
from vault.auth.service import (
    CLIENTS,
    LockoutPolicy,
    LoginFailed,
    authenticate_user,
    principal_for_client,
)
from vault.auth.service import actor_names as names_of_actors
from vault.auth.sessions import SessionPolicy, end_session, start_session
from vault.auth.staff import StaffDirectory
from vault.crypto.envelope import KeyRing
from vault.crypto.notes import NoteCipher
from vault.crypto.rotation import KeyStatus
from vault.crypto.rotation import key_status as status_of_keys
from vault.customers.catalogue import Catalogue
from vault.customers.data_keys import CustomerDataKeys
from vault.customers.service import CustomerStore
from vault.db import db, purge_sqlite_wal
from vault.errors import Forbidden
from vault.events.audience import Audience
from vault.events.feed import EventFeed
from vault.events.subscriptions import SECRETS_KEY_LABEL, SubscriptionDesk
from vault.governance.access_desk import AccessDesk
from vault.governance.access_requests import active_grant, grant_purposes
from vault.governance.catalogue_admin import CatalogueAdmin
from vault.governance.legal_holds import LegalHolds
from vault.governance.policy_admin import PolicyAdmin, rule_choices
from vault.governance.purposes import Purposes
from vault.governance.purposes import consent_purposes as purposes_by_consent
from vault.governance.retention_desk import RetentionRules
from vault.idempotency.service import KEY_LABEL as ANSWERS_KEY_LABEL
from vault.idempotency.service import IdempotentAnswers
from vault.policies.plan import AccessPlan
from vault.policies.service import COUNTER as POLICIES
from vault.policies.service import plans
from vault.privacy.desk import PrivacyDesk
from vault.privacy.documents import Organisation
from vault.privacy.portal import PrivacyPortal
from vault.privacy.queue import PrivacyQueue
from vault.readiness import ReadinessCheck
from vault.worker import job_lock


def _catalogue() -> Catalogue:
    """The current field catalogue (read when a service first needs it)."""
    return runtime.customer_store().catalogue


# --- governed access to customer records -----------------------------------------------------


def governed(principal: Principal, purpose: str) -> GovernedAccess:
    """The governed access of ``principal`` for ``purpose``: the plans of its roles at the
    current policy stamp, over the request's customer store."""
    store = runtime.customer_store()

    def plans_for(purpose: str) -> AccessPlan:
        stamp = runtime.change_stamps().get(POLICIES, 0)
        return plans.plan(db.session, store.catalogue, principal.roles, purpose, stamp=stamp)

    def record(action: str, *, customer_ids: Iterable[str] = (),
               field_names: Iterable[str] = (), reason: str = "") -> None:  # fmt: skip
        audit(action, customer_ids=customer_ids, field_names=field_names, reason=reason,
                     principal=principal, purpose=purpose)  # fmt: skip

    def refused(reason: str, *, action: str | None = None,
                customer_ids: Iterable[str] | None = None) -> None:  # fmt: skip
        refuse(reason, action=action, customer_ids=customer_ids, principal=principal,
               purpose=purpose)  # fmt: skip

    return GovernedAccess(principal, purpose, store, plans_for=plans_for,
                          keys=runtime.key_provider(), record=record, refuse=refused,
                          on_target=aim,
                          backdate_days=runtime.settings().relationship_backdate_days)  # fmt: skip


def actor_names(actor_ids: Iterable[str]) -> dict[str, str]:
    """The names of the staff users and API clients among ``actor_ids`` (for the audit log,
    which keeps ids)."""
    return names_of_actors(db.session, actor_ids)


def key_status(principal: Principal) -> KeyStatus:
    """Master-key versions and how many data keys each wraps, for ``principal`` (an admin)."""
    principal.require_role("admin", because="key versions are for admins")
    return status_of_keys(CustomerDataKeys(db.session), runtime.key_provider())


def idempotent_answers() -> IdempotentAnswers:
    """The answers kept for ``Idempotency-Key`` over the request's unit of work."""
    settings = runtime.settings()
    cipher = NoteCipher(runtime.key_provider().derived_key(ANSWERS_KEY_LABEL))
    return IdempotentAnswers(db.session, cipher, now=runtime.now(),
                             keep=dt.timedelta(hours=settings.idempotency_keep_hours))  # fmt: skip


# --- who is calling ----------------------------------------------------------------------------


def principal_for_token(token: str) -> Principal:
    """The principal of the API client a bearer token belongs to, from the process's table
    of token principals while the clients' and policies' change stamps hold; raises
    ``TokenRefused``. Its last use commits with the request's own work."""
    stamps = runtime.change_stamps()
    return runtime.token_principals().principal(
        db.session, token, now=runtime.now(),
        stamps=(stamps.get(CLIENTS, 0), stamps.get(POLICIES, 0)),
    )  # fmt: skip


def granted_purposes(user_id: str) -> frozenset[str]:
    """The purposes of the user's active access grants."""
    return grant_purposes(db.session, user_id, runtime.now())


def log_in(email: str, password: str) -> User:
    """The staff user these credentials belong to. A failure is counted (and locks the
    account after too many) and recorded, committed at once although the answer is an error;
    raises ``LoginFailed``."""
    settings = runtime.settings()
    lockout = LockoutPolicy(settings.login_max_failures,
                            dt.timedelta(seconds=settings.login_lockout_seconds))  # fmt: skip
    try:
        return authenticate_user(db.session, email=email, password=password, now=runtime.now(),
                                 policy=lockout)  # fmt: skip
    except LoginFailed as exc:
        context = request_context(actor_kind="user" if exc.user_id else "anonymous")
        record_event(db.session, dataclasses.replace(context, actor_id=exc.user_id or ""),
                     action="auth.login", outcome="denied", reason=exc.reason,
                     now=runtime.now())  # fmt: skip
        db.session.commit()
        raise


def open_staff_session(user: User, principal: Principal) -> str:
    """A new admin UI session for ``user`` (its token), recorded as ``auth.login``."""
    token = start_session(db.session, user.id, now=runtime.now())
    audit("auth.login", principal=principal)
    return token


def close_staff_session(token: object, principal: Principal) -> None:
    """End the admin UI session of ``token``, recorded as ``auth.logout``."""
    end_session(db.session, token, now=runtime.now(), reason="logout")
    audit("auth.logout", principal=principal)


# --- administration ---------------------------------------------------------------------------


def staff(principal: Principal) -> StaffDirectory:
    """The staff directory, as ``principal`` (an admin) may use it."""
    settings = runtime.settings()
    return StaffDirectory(db.session, request_context(principal), principal, now=runtime.now(),
                          policy=SessionPolicy.from_settings(settings),
                          min_password_length=settings.password_min_length)  # fmt: skip


def policy_admin(principal: Principal) -> PolicyAdmin:
    """The roles and policy rules, as ``principal`` (an admin) may manage them."""
    return PolicyAdmin(db.session, request_context(principal), principal, now=runtime.now(),
                       catalogue=_catalogue)  # fmt: skip


def policy_choices() -> tuple[list[str], list[str]]:
    """The role names and purpose codes that exist (a policy rule form's choices)."""
    return rule_choices(db.session)


def grant_purpose(principal: Principal, request_id: str) -> str:
    """The purpose of ``principal``'s active grant ``request_id``; ``NotFound`` when it is
    not theirs, not approved or over."""
    return active_grant(db.session, request_id, principal.id, runtime.now()).purpose


def with_grants(principal: Principal) -> Principal:
    """``principal`` with the purposes its active grants let it state as well."""
    granted = grant_purposes(db.session, principal.id, runtime.now())
    return dataclasses.replace(principal, purposes=principal.purposes | granted)


def access_desk(principal: Principal) -> AccessDesk:
    """The access requests ``principal`` made or may decide on."""

    def refused(reason: str, *, action: str, customer_ids: Iterable[str]) -> None:
        refuse(reason, action=action, customer_ids=customer_ids, principal=principal)

    return AccessDesk(db.session, request_context(principal), principal, now=runtime.now(),
                      catalogue=_catalogue,
                      notes=runtime.note_cipher, refuse=refused)  # fmt: skip


def catalogue_admin(principal: Principal) -> CatalogueAdmin:
    """The field catalogue and its owners, as ``principal`` may read and change them."""
    return CatalogueAdmin(db.session, request_context(principal), principal, now=runtime.now(),
                          catalogue=_catalogue)  # fmt: skip


def clients(principal: Principal) -> ClientDirectory:
    """The API clients, as ``principal`` (an admin) may manage them."""
    return ClientDirectory(db.session, request_context(principal), principal, now=runtime.now())


# --- events for consumer systems --------------------------------------------------------------


def webhook_secrets() -> NoteCipher:
    """The cipher that keeps subscriptions' signing secrets at rest."""
    return NoteCipher(runtime.key_provider().derived_key(SECRETS_KEY_LABEL))


def subscriptions(principal: Principal) -> SubscriptionDesk:
    """The subscriptions, as ``principal`` (an admin) may manage them."""
    principal.require_role("admin", because="only admins manage subscriptions")
    return subscription_desk(request_context(principal))


def subscription_desk(context: AuditContext) -> SubscriptionDesk:
    """The subscriptions in this app context's session, their changes recorded under
    ``context`` (a request's goes through ``subscriptions``; the command line's is its own)."""
    return SubscriptionDesk(
        db.session, context, runtime.now(), webhook_secrets(),
        allow_link_local=runtime.settings().webhook_allow_link_local,
    )  # fmt: skip


def audience_of_principal(principal: Principal) -> Audience:
    """What a client may hear of: the purposes it sees customers for (with or without their
    consent), its regions, and the fields it may read for them, under the current plans."""
    catalogue = _catalogue()
    stamp = runtime.change_stamps().get(POLICIES, 0)
    open_purposes: set[str] = set()
    consent_purposes: set[str] = set()
    fields: set[str] = set()
    for purpose in sorted(principal.purposes):
        plan = plans.plan(db.session, catalogue, principal.roles, purpose, stamp=stamp)
        if not plan.sees_customers:
            continue
        (consent_purposes if plan.consent_required else open_purposes).add(purpose)
        fields.update(plan.readable)
    return Audience(principal.id, principal.regions, frozenset(open_purposes),
                    frozenset(consent_purposes), frozenset(fields))  # fmt: skip


def audience_of_client(client_id: str) -> Audience:
    """``audience_of_principal`` of an API client by id; nothing for a client revoked,
    expired or gone."""
    client = db.session.get(ApiClient, client_id)
    now = runtime.now()
    if (
        client is None
        or client.revoked_at is not None
        or (client.expires_at is not None and client.expires_at <= now)
    ):
        return Audience(client_id, None, frozenset(), frozenset(), frozenset())
    return audience_of_principal(principal_for_client(client))


def event_audience(principal: Principal) -> Audience:
    """The audience of the calling API client (the feed and acknowledgements are theirs)."""
    if principal.kind != "client":
        raise Forbidden("the event feed is read with an API client's token")
    return audience_of_principal(principal)


# --- governance: retention, legal holds, purposes, the audit trail, privacy requests ---------


def retention(principal: Principal) -> RetentionRules:
    """The retention rules and the sweep, as ``principal`` may use them; the sweep commits
    batch by batch in the request's session, under the sweep's lock."""
    return RetentionRules(db.session, request_context(principal), principal, now=runtime.now(),
                          store=runtime.customer_store,
                          sweep_lock=lambda: job_lock(db.engine, "retention.sweep"),
                          commit=db.session.commit,
                          forget_mail=lambda refs: runtime.mailer().forget(refs),
                          purge_wal=lambda: purge_sqlite_wal(db.engine))  # fmt: skip


def legal_holds(principal: Principal) -> LegalHolds:
    """The legal holds, as ``principal`` (a compliance officer, or an admin to read) may use
    them."""
    return LegalHolds(db.session, request_context(principal), principal, now=runtime.now(),
                      notes=runtime.note_cipher)  # fmt: skip


def purposes(principal: Principal) -> Purposes:
    """The purposes with their consent statistics, as ``principal`` may read and (an admin)
    add them."""
    return Purposes(db.session, request_context(principal), principal, now=runtime.now())


def audit_review(principal: Principal) -> AuditReview:
    """The audit trail, as ``principal`` (a compliance officer or an admin) may review it; an
    export commits its own event in the request's session before it streams."""
    return AuditReview(db.session, request_context(principal), principal, now=runtime.now(),
                       log=runtime.audit_log, commit=db.session.commit)  # fmt: skip


def privacy_queue(principal: Principal, *, base_url: str = "") -> PrivacyQueue:
    """The privacy-request queue, as ``principal`` (a compliance officer) may use it; its desk
    makes the links in messages absolute with ``base_url``, and what follows a filed request
    runs after the request's commit (``follow_up``)."""
    context = request_context(principal)
    return PrivacyQueue(db.session, context, principal, now=runtime.now(),
                        cursors=runtime.cursor_signer,
                        desk=lambda: PrivacyDesk(runtime.customer_store(), context,
                                                 base_url=base_url),
                        follow_up=follow_up)  # fmt: skip


def consent_purposes() -> list[str]:
    """The purposes whose legal basis is consent (those a customer may withdraw)."""
    return purposes_by_consent(db.session)


def privacy_portal(*, base_url: str, language: str = "en") -> PrivacyPortal:
    """The portal's steps for the data subject of this request, each committed in the
    request's session before its answer leaves; links in messages are absolute under
    ``base_url`` and their text in ``language``, and an export streams from a reader's
    session of its own."""

    def open_desk() -> PrivacyDesk:
        settings = runtime.settings()
        organisation = Organisation(settings.organisation_name, settings.organisation_contact,
                                    settings.dpo_contact)  # fmt: skip
        limit = settings.privacy_requests_per_address
        return PrivacyDesk(runtime.customer_store(), request_context(actor_kind="subject"),
                           base_url=base_url, per_address_limit=limit, language=language,
                           organisation=organisation)  # fmt: skip

    def export_store() -> CustomerStore:
        store = runtime.customer_store()
        return CustomerStore(db.reading_session(), KeyRing(runtime.key_provider()),
                             store.catalogue, now=store.now, regions=store.regions)  # fmt: skip

    return PrivacyPortal(db.session, open_desk=open_desk, commit=db.session.commit,
                         follow_up=follow_up, export_store=export_store)  # fmt: skip


# --- readiness -------------------------------------------------------------------------------


def readiness(app: Flask) -> ReadinessCheck:
    """The readiness check of ``app`` (made once): ``SELECT 1`` through a reader's session
    (on SQLite it never waits for a writer's lock) within VAULT_READINESS_TIMEOUT_MS."""
    check: ReadinessCheck | None = app.extensions.get("vault.readiness")
    if check is None:
        timeout = app.config["VAULT_SETTINGS"].readiness_timeout_ms / 1000
        check = ReadinessCheck(lambda: db.reading_session(app), timeout)
        app.extensions["vault.readiness"] = check
    return check


def event_feed(principal: Principal) -> EventFeed:
    """The calling API client's event feed and acknowledgements."""
    audience = event_audience(principal)

    def record(action: str, *, customer_ids: Iterable[str] = (), reason: str = "") -> None:
        audit(action, customer_ids=customer_ids, reason=reason, principal=principal)

    return EventFeed(db.session, audience, runtime.now(), record, runtime.cursor_signer())
