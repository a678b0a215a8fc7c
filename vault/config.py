"""Settings: defaults, then an optional TOML file, then ``VAULT_*`` environment variables,
then the overrides given to ``create_app``. One frozen ``Settings`` object results; every
command and every request reads the same one."""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vault.errors import ConfigurationError

ENVIRONMENTS = ("development", "production", "testing")
SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name, not a secret)
MIN_SECRET_KEY_BYTES = 32
PRODUCTION_HSTS_SECONDS = 365 * 86400


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the vault can be configured with. Field names map to ``VAULT_<NAME>``."""

    env: str = "development"
    instance_path: Path = Path("instance")
    # Secrets (and addresses that may carry a password) are kept out of repr, so that a
    # Settings object printed in a traceback, a log or a shell shows none of them.
    database_url: str = dataclasses.field(default="", repr=False)
    secret_key: str = dataclasses.field(default="", repr=False)
    master_key_file: Path | None = None
    key_provider: str = "file"  # "file" (master_key_file) or "env" (master_keys)
    master_keys: str = dataclasses.field(default="", repr=False)  # for key_provider = "env"
    regions: str = "EU,UK,US,APAC"
    max_content_length: int = 10 * 1024 * 1024
    log_format: str = ""  # "json" or "console"; empty means json in production, console otherwise
    log_level: str = "INFO"
    sqlite_busy_timeout_ms: int = 5000
    # PostgreSQL (vault.db_timeouts): how long a request may wait for the database before it is
    # answered 503 with Retry-After (0 turns a statement or idle timeout off).
    database_connect_timeout_seconds: int = 5  # libpq counts whole seconds, at least 2
    database_statement_timeout_ms: int = 15000
    database_idle_in_transaction_timeout_ms: int = 30000
    database_keepalives: bool = True
    database_keepalives_idle_seconds: int = 30
    database_keepalives_interval_seconds: int = 10
    database_keepalives_count: int = 3
    database_pool_timeout_seconds: int = 5  # waiting for a free connection of the pool
    database_pool_pre_ping: bool = True
    # The Retry-After of a 503 answered while the database is unavailable, and how often a
    # lasting outage is logged (one line when it starts, one when it ends, one every N s).
    database_retry_after_seconds: int = 5
    database_outage_log_seconds: int = 60
    readiness_timeout_ms: int = 2000  # /readyz answers within this, database frozen or not
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    login_rate_limit: str = "10 per minute"
    # redis://host:6379 with several workers
    ratelimit_storage_uri: str = dataclasses.field(default="memory://", repr=False)
    ratelimit_key_prefix: str = ""  # several vaults sharing one Redis tell their keys apart
    # Refused bearer tokens per client address; past it, the address's bearer requests get 429.
    token_failure_limit: str = "20 per minute"  # noqa: S105  (a rate limit, not a secret)
    session_cookie_secure: bool | None = None  # None: secure in production only
    # A staff session ends this long after its log-in, or after this long unused.
    session_max_hours: int = 12
    session_idle_minutes: int = 30
    # How many reverse proxies stand in front of the vault: their X-Forwarded-For, -Proto and
    # -Host are then trusted (client address for rate limits and audit, links when there is
    # no base_url).
    # 0: none, and those headers are ignored.
    proxy_count: int = 0
    # The address customers and staff reach the vault at (e.g. https://vault.example.com):
    # every link the vault mails or returns as an absolute URL starts with it, whatever Host a
    # request named. Required in production; empty elsewhere means the request's own host.
    base_url: str = ""
    # Host names the vault answers to, comma-separated (".example.com" admits its
    # subdomains); a request naming any other host is refused with 400. Empty: any host.
    trusted_hosts: str = ""
    # Strict-Transport-Security max-age; None means a year in production, off otherwise.
    hsts_seconds: int | None = None
    # Origins (scheme://host[:port], comma-separated) whose web pages may call the API from a
    # browser (CORS, for /api/ only). Empty: none, and no CORS header is ever sent.
    cors_origins: str = ""
    password_min_length: int = 12
    audit_seal_seconds: int = 5  # how often `vault worker` (and `vault serve`) seal the audit log
    # Verification fails when an event has waited unsealed longer than this.
    audit_unsealed_limit_seconds: int = 300
    # Where every new audit head is written outside the database: file:<path> or a database
    # URL; empty: the file audit-anchor.log beside the master key file.
    audit_anchor: str = dataclasses.field(default="", repr=False)
    retention_sweep_seconds: int = 3600  # how often `vault worker` applies retention rules
    grant_expiry_seconds: int = 60  # how often `vault worker` records expired access grants
    # Idempotency-Key: how long a creating request's answer is kept for replay, and how
    # often `vault worker` deletes the answers older than that.
    idempotency_keep_hours: int = 24
    idempotency_purge_seconds: int = 600
    smtp_host: str = ""  # empty: mail goes to instance_path/outbox as .eml files
    smtp_port: int = 25
    smtp_username: str = ""  # empty: no SMTP AUTH
    smtp_password: str = dataclasses.field(default="", repr=False)
    smtp_starttls: bool = False  # upgrade a plain connection with STARTTLS
    smtp_ssl: bool = False  # connect with implicit TLS (usually port 465)
    mail_from: str = "privacy@vault.localhost"
    # Who runs the privacy portal, shown on every portal page and in every message to a
    # customer: the organisation's name, how to reach it, its data-protection officer and
    # its privacy notice (empty: left out).
    organisation_name: str = "Vault"
    organisation_contact: str = ""
    dpo_contact: str = ""
    privacy_notice_url: str = ""
    # The privacy portal: requests and code checks per client address (flask-limiter), and
    # requests per e-mail address and hour.
    privacy_rate_limit: str = "30 per minute"
    privacy_requests_per_address: int = 5
    # Portal requests are answered no sooner than this, known address or not.
    privacy_response_floor_ms: int = 60
    privacy_deadline_seconds: int = 300  # how often `vault worker` checks request deadlines
    # How far back a system may date the end of a customer relationship (a retention trigger
    # that leads to anonymisation): an end earlier than now minus this many days is refused.
    relationship_backdate_days: int = 30
    # Events for consumer systems (``vault.events``): how often the relay numbers, fans out and
    # delivers; how long a failing delivery is retried before it is marked failed; the time a
    # receiver has to connect and to answer; how many deliveries go out at once.
    events_relay_seconds: float = 0.5
    webhook_retry_hours: int = 24
    webhook_first_retry_seconds: float = 5.0  # doubled after each failure, up to an hour
    webhook_connect_timeout_seconds: float = 3.0
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 64
    # Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10...) are refused as
    # webhook receivers unless this allows them.
    webhook_allow_link_local: bool = False

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def testing(self) -> bool:
        return self.env == "testing"

    @property
    def secret_key_file(self) -> Path:
        return self.instance_path / SECRET_KEY_FILE

    @property
    def resolved_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "json" if self.production else "console"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.instance_path / "master.key"

    @property
    def default_audit_anchor_file(self) -> Path:
        return self.resolved_master_key_file.parent / "audit-anchor.log"

    @property
    def resolved_hsts_seconds(self) -> int:
        if self.hsts_seconds is None:
            return PRODUCTION_HSTS_SECONDS if self.production else 0
        return self.hsts_seconds

    @property
    def trusted_host_list(self) -> list[str] | None:
        """Flask's ``TRUSTED_HOSTS``: None (any host) when none is configured."""
        hosts = [h.strip() for h in self.trusted_hosts.split(",") if h.strip()]
        return hosts or None

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def region_set(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.regions.split(",") if r.strip())


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _parse_bool(text: str, *, nullable: bool) -> bool | None:
    text = text.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    if nullable and text in {"", "auto"}:
        return None
    raise ValueError(text)


def _coerce(name: str, raw: Any) -> Any:
    """Turn a raw (string or TOML) value into the type the field declares."""
    annotation = str(_FIELDS[name].type)
    if raw is None or isinstance(raw, bool):
        return raw
    if "None" in annotation and isinstance(raw, str) and raw.strip() in {"", "auto"}:
        return None
    numbers: dict[str, type] = {"int": int, "float": float}
    try:
        kind = annotation.split(" ", maxsplit=1)[0]
        if kind in numbers:
            return numbers[kind](raw)
        if annotation.startswith("bool"):
            return _parse_bool(str(raw), nullable="None" in annotation)
    except ValueError as exc:
        raise ConfigurationError(f"VAULT_{name.upper()} has an invalid value") from exc
    if annotation.startswith("Path"):
        return Path(raw) if str(raw) else None
    return str(raw)


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        key = f"VAULT_{name.upper()}"
        if key in environ:
            values[name] = _coerce(name, environ[key])
    return values


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read the config file {path}: {exc}") from exc
    section = data.get("vault", data)
    unknown = sorted(set(section) - set(_FIELDS))
    if unknown:
        raise ConfigurationError(f"unknown settings in {path}: {', '.join(unknown)}")
    return {name: _coerce(name, value) for name, value in section.items()}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    initialising: bool = False,
) -> Settings:
    """Build the settings. ``overrides`` keys are field names (case-insensitive).

    Raises ``ConfigurationError`` for an unknown setting, a bad value, or a production
    configuration that lacks its secrets (``initialising``: for `vault init`, which writes
    the secret key and master key files, their absence is no error).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = (overrides or {}).get("config_file") or environ.get("VAULT_CONFIG_FILE")
    if config_file:
        values.update(_from_file(Path(config_file)))
    values.update(_from_env(environ))
    for key, value in (overrides or {}).items():
        name = key.lower().removeprefix("vault_")
        if name == "config_file":
            continue
        if name not in _FIELDS:
            raise ConfigurationError(f"unknown setting {key!r}")
        values[name] = value if not isinstance(value, str) else _coerce(name, value)

    if values.get("env", "development") not in ENVIRONMENTS:
        raise ConfigurationError(f"VAULT_ENV must be one of {', '.join(ENVIRONMENTS)}")
    instance = Path(values.get("instance_path") or "instance").absolute()
    values["instance_path"] = instance
    if not values.get("database_url"):
        values["database_url"] = f"sqlite:///{instance / 'vault.db'}"
    if values.get("base_url"):
        values["base_url"] = _check_base_url(values["base_url"])
    settings = Settings(**values)
    if settings.relationship_backdate_days < 0:
        raise ConfigurationError("VAULT_RELATIONSHIP_BACKDATE_DAYS must be 0 or more days")
    _check_database_timeouts(settings)
    _check_webhooks(settings)
    if not settings.secret_key:
        settings = dataclasses.replace(settings, secret_key=_read_secret_key(settings))
    _check_production(settings, initialising=initialising)
    return settings


def _check_database_timeouts(settings: Settings) -> None:
    """Raises ``ConfigurationError`` for a negative timeout, or a Retry-After, log interval
    or readiness timeout under 1."""
    for name in _FIELDS:
        value = getattr(settings, name)
        if name.startswith("database_") and isinstance(value, int) and value < 0:
            raise ConfigurationError(f"VAULT_{name.upper()} must be 0 or more")
    for name in ("database_retry_after_seconds", "database_outage_log_seconds",
                 "readiness_timeout_ms"):  # fmt: skip
        if getattr(settings, name) < 1:
            raise ConfigurationError(f"VAULT_{name.upper()} must be 1 or more")


def _check_webhooks(settings: Settings) -> None:
    """Raises ``ConfigurationError`` for a relay period, timeout, retry window or
    concurrency that is not positive."""
    for name in ("events_relay_seconds", "webhook_retry_hours", "webhook_first_retry_seconds",
                 "webhook_connect_timeout_seconds",
                 "webhook_timeout_seconds", "webhook_concurrency"):  # fmt: skip
        if not getattr(settings, name) > 0:
            raise ConfigurationError(f"VAULT_{name.upper()} must be more than 0")


def _read_secret_key(settings: Settings) -> str:
    try:
        return settings.secret_key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _check_base_url(url: str) -> str:
    """The base URL without a trailing slash. Raises ``ConfigurationError`` unless it is an
    http(s) address with a host and nothing a link could not be appended to (query,
    fragment, user name)."""
    parts = urlsplit(url.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise ConfigurationError(
            "VAULT_BASE_URL must be an http(s) address such as https://vault.example.com"
        )
    return url.strip().rstrip("/")


def _check_production(settings: Settings, *, initialising: bool = False) -> None:
    if not settings.production:
        return
    if settings.secret_key and len(settings.secret_key.encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigurationError("VAULT_SECRET_KEY must be at least 32 bytes in production mode")
    if not settings.secret_key and not initialising:
        raise ConfigurationError(
            "production mode needs VAULT_SECRET_KEY (at least 32 bytes) or a secret key file "
            "written by `vault init`"
        )
    if settings.key_provider not in ("file", "env"):
        raise ConfigurationError("VAULT_KEY_PROVIDER must be file or env")
    if settings.key_provider == "env" and not settings.master_keys:
        raise ConfigurationError(
            "production mode with VAULT_KEY_PROVIDER=env needs VAULT_MASTER_KEYS"
        )
    if (
        settings.key_provider == "file"
        and not settings.resolved_master_key_file.exists()
        and not initialising
    ):
        raise ConfigurationError(
            "production mode needs the master key file "
            f"({settings.resolved_master_key_file}); run `vault init` or set VAULT_MASTER_KEY_FILE"
        )
    if settings.database_url.startswith("sqlite") and ":memory:" in settings.database_url:
        raise ConfigurationError("production mode cannot run on an in-memory database")
    if not settings.base_url.startswith("https://"):
        # Mailed links would otherwise name whatever Host a request sent.
        raise ConfigurationError(
            "production mode needs VAULT_BASE_URL, the https address customers reach the "
            "vault at (e.g. https://vault.example.com)"
        )


def ensure_secret_key_file(settings: Settings) -> bool:
    """Create the instance secret key file (mode 0600) unless a key is configured or kept.

    Returns True when a new key file was written.
    """
    if settings.secret_key or settings.secret_key_file.exists():
        return False
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.secret_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    return True
