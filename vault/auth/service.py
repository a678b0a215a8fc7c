"""Staff users, log-in with lock-out, API clients and their tokens, and the principals they
become. Functions here flush; the caller's request or command commits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from vault.auth.models import ApiClient, User
from vault.auth.passwords import hash_password, needs_rehash, verify_password
from vault.auth.principal import Principal
from vault.auth.tokens import issue_token, parse_token, secret_matches
from vault.errors import Conflict, Unauthorized, ValidationFailed, quoted, quoted_list
from vault.policies import versions
from vault.policies.models import Purpose, Role

# A token's last use is recorded at most this often, so that reads do not all become writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# The change stamp of API clients (vault.policies.versions): a revocation replaces it, so that
# every process drops the principals it keeps for tokens (vault.auth.token_cache).
CLIENTS = "clients"


class LoginFailed(Unauthorized):
    """Log-in refused. ``reason`` (bad_credentials, locked, inactive) is for the audit trail
    only; the caller shows every reason the same way."""

    code = "login_failed"

    def __init__(self, reason: str, user_id: str | None = None) -> None:
        super().__init__("invalid email or password, or the account is temporarily locked")
        self.reason = reason
        self.user_id = user_id


class TokenRefused(Unauthorized):
    """A bearer token that is malformed, unknown, expired or revoked (``reason`` says which)."""

    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        super().__init__("the bearer token is invalid, expired or revoked")
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)


def normalise_staff_email(email: str) -> str:
    """The canonical form of a staff email; raises ``ValidationFailed`` when it is not one."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(errors={"email": ["not a valid email address"]}) from exc


def _load_roles(session: Session, names: Iterable[str]) -> list[Role]:
    wanted = sorted(set(names))
    roles = list(session.scalars(sa.select(Role).where(Role.name.in_(wanted))))
    missing = sorted(set(wanted) - {r.name for r in roles})
    if missing:
        raise ValidationFailed(errors={"role": [f"unknown role: {quoted_list(missing)}"]})
    return roles


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    roles: Sequence[str],
    min_password_length: int = 12,
) -> User:
    """Create a staff user with an argon2id password hash.

    Raises ``ValidationFailed`` (bad email, short password, unknown role, no role) and
    ``Conflict`` (email taken).
    """
    errors: dict[str, list[str]] = {}
    try:
        email = normalise_staff_email(email)
    except ValidationFailed as exc:
        errors.update({k: list(v) for k, v in (exc.errors or {}).items()})
    if len(password) < min_password_length:
        errors["password"] = [f"must be at least {min_password_length} characters"]
    if not roles:
        errors["role"] = ["at least one role is required"]
    if errors:
        raise ValidationFailed(errors=errors)
    role_rows = _load_roles(session, roles)
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise Conflict("a user with this email already exists", code="user_exists")
    user = User(
        id="usr_" + secrets.token_hex(12),
        email=email,
        password_hash=hash_password(password),
        roles=role_rows,
    )
    session.add(user)
    session.flush()
    return user


def find_user_by_email(session: Session, email: str) -> User | None:
    try:
        email = normalise_staff_email(email)
    except ValidationFailed:
        return None
    return session.scalar(sa.select(User).where(User.email == email))


def authenticate_user(
    session: Session,
    *,
    email: str,
    password: str,
    now: dt.datetime,
    policy: LockoutPolicy | None = None,
) -> User:
    """The user whose email and password these are. Every outcome spends one argon2
    verification, so timing does not reveal whether the account exists or is locked.

    After ``policy.max_failures`` consecutive failures the account is locked for
    ``policy.lockout``; the caller must commit even when this raises ``LoginFailed``, so the
    failure count persists.
    """
    policy = policy or LockoutPolicy()
    user = find_user_by_email(session, email)
    matches = verify_password(user.password_hash if user else None, password)
    if user is None:
        raise LoginFailed("bad_credentials")
    if user.locked_until is not None and user.locked_until > now:
        raise LoginFailed("locked", user.id)
    if not matches:
        user.failed_logins += 1
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + policy.lockout
            user.failed_logins = 0
        session.flush()
        raise LoginFailed("bad_credentials", user.id)
    if not user.active:
        raise LoginFailed("inactive", user.id)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.flush()
    return user


def create_api_client(
    session: Session,
    *,
    name: str,
    role: str,
    purposes: Sequence[str] = (),
    expires_days: int | None = None,
    regions: Sequence[str] = (),
    now: dt.datetime,
) -> tuple[ApiClient, str]:
    """Register a consumer system and issue its token. Returns the client and the token,
    which is shown once and never stored (only a hash of its secret is).

    Raises ``ValidationFailed`` (empty name, unknown role or purpose, a purpose the role may
    not use, a non-positive lifetime) and ``Conflict`` (name taken).
    """
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 128:
        errors["name"] = ["must be 1 to 128 characters"]
    if expires_days is not None and expires_days <= 0:
        errors["expires_days"] = ["must be a positive number of days"]
    if any(not r.isalnum() or not r.isupper() for r in regions):
        errors["region"] = ["regions are upper-case codes such as EU or US"]
    if errors:
        raise ValidationFailed(errors=errors)
    (role_row,) = _load_roles(session, [role])
    allowed = {p.code for p in role_row.purposes}
    wanted = sorted(set(purposes))
    known = {p.code: p for p in session.scalars(sa.select(Purpose).where(Purpose.code.in_(wanted)))}
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise ValidationFailed(errors={"purpose": [f"unknown purpose: {quoted_list(unknown)}"]})
    refused = [p for p in wanted if p not in allowed]
    if refused:
        raise ValidationFailed(
            errors={"purpose": [f"role {quoted(role)} may not use: {quoted_list(refused)}"]}
        )
    if session.scalar(sa.select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise Conflict("an API client with this name already exists", code="client_exists")
    token = issue_token()
    client = ApiClient(
        id="cli_" + token.key_id,
        name=name,
        role=role_row,
        token_hash=token.secret_hash,
        created_at=now,  # the moment its expiry counts from
        expires_at=now + dt.timedelta(days=expires_days) if expires_days else None,
        purpose_limit=[known[p] for p in wanted],
        regions=",".join(sorted(set(regions))),
    )
    session.add(client)
    session.flush()
    return client, token.value


def authenticate_token(session: Session, token: str, *, now: dt.datetime) -> ApiClient:
    """The API client a bearer token belongs to. Raises ``TokenRefused``."""
    parsed = parse_token(token)
    if parsed is None:
        raise TokenRefused("malformed")
    key_id, secret = parsed
    client = session.get(ApiClient, "cli_" + key_id)
    if not secret_matches(client.token_hash if client else None, secret) or client is None:
        raise TokenRefused("unknown")
    if client.revoked_at is not None:
        raise TokenRefused("revoked")
    if client.expires_at is not None and client.expires_at <= now:
        raise TokenRefused("expired")
    if client.last_used_at is None or now - client.last_used_at >= LAST_USED_RESOLUTION:
        client.last_used_at = now
        session.flush()
    return client


def revoke_api_client(session: Session, client_id: str, *, now: dt.datetime) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise ValidationFailed(errors={"client": ["unknown API client"]})
    if client.revoked_at is None:
        client.revoked_at = now
        session.flush()
        versions.bump(session, CLIENTS)
    return client


def _regions(text: str) -> frozenset[str] | None:
    regions = frozenset(r for r in text.split(",") if r)
    return regions or None


def principal_for_user(user: User, granted: frozenset[str] = frozenset()) -> Principal:
    """The principal of a staff user; ``granted`` adds the purposes of active access grants."""
    return Principal(
        kind="user",
        id=user.id,
        name=user.email,
        roles=frozenset(r.name for r in user.roles),
        purposes=frozenset(p.code for r in user.roles for p in r.purposes) | granted,
        regions=_regions(user.regions),
    )


def principal_for_client(client: ApiClient) -> Principal:
    allowed = {p.code for p in client.role.purposes}
    limit = {p.code for p in client.purpose_limit}
    return Principal(
        kind="client",
        id=client.id,
        name=client.name,
        roles=frozenset({client.role_name}),
        purposes=frozenset(allowed & limit if limit else allowed),
        regions=_regions(client.regions),
    )


def actor_names(session: Session, actor_ids: Iterable[str]) -> dict[str, str]:
    """A name for each of ``actor_ids`` that is a staff user (the e-mail address) or an API
    client (its name); other ids (the system's, an anonymous caller's) are left out."""
    wanted = sorted({i for i in actor_ids if i})
    if not wanted:
        return {}
    users = session.execute(sa.select(User.id, User.email).where(User.id.in_(wanted)))
    clients = session.execute(
        sa.select(ApiClient.id, ApiClient.name).where(ApiClient.id.in_(wanted))
    )
    return {str(i): str(name) for i, name in [*users, *clients]}
