"""Shared fixtures. The suite runs on the database named by VAULT_TEST_DATABASE (sqlite or
postgresql); the schema is built by running the migrations; each test runs inside a
transaction that is rolled back, so tests never see each other's data."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import argon2
import psycopg
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import DATABASE_KIND, PASSWORD, POSTGRES_URL, SAMPLE_FIELDS, app_settings, bearer
from tests.support.smtp import CollectingHandler, start_smtp_server
from vault import runtime
from vault.app import create_app
from vault.auth import passwords
from vault.auth.service import create_api_client, create_user
from vault.bootstrap import prepare_database
from vault.clock import FixedClock
from vault.customers.service import CustomerStore
from vault.db import db
from vault.logs import configure_logging

# argon2's cheapest profile for the passwords this process hashes (the suite makes thousands);
# the vault's own profile is held by tests/unit/auth/test_auth.py, and served vaults keep it.
passwords.use_profile(argon2.profiles.CHEAPEST)


class DatabaseFactory:
    """Creates empty databases of the kind under test and drops them at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created: list[str] = []

    def new(self) -> str:
        name = f"vault_test_{uuid.uuid4().hex[:12]}"
        if DATABASE_KIND == "sqlite":
            return f"sqlite:///{self.root / (name + '.db')}"
        try:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:
            pytest.fail(f"PostgreSQL is required for this run and is not reachable: {exc}")
        self.created.append(name)
        base, _, _ = POSTGRES_URL.rpartition("/")
        return f"{base}/{name}"

    def drop_all(self) -> None:
        if not self.created:
            return
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def migrated_database_url(database_factory: DatabaseFactory) -> str:
    """One database per test session (per xdist worker), migrated and seeded once."""
    url = database_factory.new()
    prepare_database(url)
    return url


@pytest.fixture
def fresh_database_url(database_factory: DatabaseFactory) -> str:
    """An empty database of its own, for tests that migrate or commit for real."""
    return database_factory.new()


@pytest.fixture
def env(fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a `vault` command over a fresh database of its own."""
    return {
        "VAULT_DATABASE_URL": fresh_database_url,
        "VAULT_INSTANCE_PATH": str(tmp_path / "instance"),
        "VAULT_LOG_FORMAT": "json",
    }


@pytest.fixture
def make_app(
    database_factory: DatabaseFactory, tmp_path: Path, clock: FixedClock
) -> Iterator[Callable[..., Flask]]:
    """Build an app with extra settings; it commits for real, so without ``database_url`` it
    gets a fresh migrated database of its own. Engines are closed afterwards."""
    apps: list[Flask] = []

    def make(database_url: str | None = None, **extra: Any) -> Flask:
        if database_url is None:
            database_url = database_factory.new()
            prepare_database(database_url)
        # Apps of one test share the instance folder (and master key); each database has
        # its own audit anchor, as each vault does.
        if "instance_path" not in extra:
            digest = hashlib.sha256(database_url.encode()).hexdigest()[:12]
            extra.setdefault("audit_anchor", f"file:{tmp_path / f'audit-anchor-{digest}.log'}")
        settings = app_settings(database_url, tmp_path / "instance", **extra)
        app = create_app(settings)
        app.extensions["vault.clock"] = clock
        apps.append(app)
        with app.app_context():
            if sa.inspect(db.engine).has_table("audit_head"):  # migrated: as `vault init` does
                runtime.audit_log().initialise(db.session, now=clock.now())
        return app

    yield make
    for app in apps:
        db.state(app).dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def app(migrated_database_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Flask]:
    """An app whose every session joins one outer transaction, rolled back after the test."""
    app = create_app(app_settings(migrated_database_url, tmp_path / "instance"))
    app.extensions["vault.clock"] = clock
    engine = db.state(app).engine
    connection = engine.connect()
    outer = connection.begin()
    db.bind_to_connection(app, connection)
    with app.app_context():  # what `vault init` does: the audit log's genesis head
        runtime.audit_log().initialise(db.session, now=clock.now())
    yield app
    outer.rollback()
    connection.close()
    engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., str]:
    """Create a committed staff user; returns its id."""

    def make(email: str = "staff@example.com", roles: tuple[str, ...] = ("admin",)) -> str:
        with app.app_context(), db.transaction() as session:
            return create_user(session, email=email, password=PASSWORD, roles=list(roles)).id

    return make


@pytest.fixture
def make_token(app: Flask, clock: FixedClock) -> Callable[..., str]:
    """Create a committed API client; returns its bearer token."""

    def make(
        role: str = "sales",
        purposes: tuple[str, ...] = (),
        expires_days: int | None = None,
        name: str | None = None,
        regions: tuple[str, ...] = (),
    ) -> str:
        with app.app_context(), db.transaction() as session:
            _client, token = create_api_client(
                session,
                name=name or f"client-{uuid.uuid4().hex[:8]}",
                role=role,
                purposes=list(purposes),
                expires_days=expires_days,
                regions=list(regions),
                now=clock.now(),
            )
            return token

    return make


@pytest.fixture
def sales(make_token: Callable[..., str]) -> dict[str, str]:
    """The headers of the sales system (role sales) for the purpose sales."""
    return bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})


@pytest.fixture
def customer_id(client: FlaskClient, sales: dict[str, str]) -> str:
    """A customer the sales system created (SAMPLE_FIELDS, region EU)."""
    created = client.post(
        "/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"}, headers=sales
    )
    assert created.status_code == 201
    return str(created.get_json()["id"])


@pytest.fixture
def officer(make_token: Callable[..., str]) -> dict[str, str]:
    """The headers of a compliance officer's client."""
    return bearer(make_token(role="compliance_officer", name="legal"))


@pytest.fixture
def store(app: Flask) -> Iterator[CustomerStore]:
    """A customer store for one unit of work inside an app context; commit with
    ``store.session.commit()`` (a savepoint release: the test still rolls everything back)."""
    with app.app_context():
        yield runtime.customer_store()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Log lines as the service writes them (JSON), captured for the test."""
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    yield stream
    configure_logging("json", "INFO")


@pytest.fixture
def smtp_handler() -> CollectingHandler:
    return CollectingHandler()


@pytest.fixture
def smtp_server(smtp_handler: CollectingHandler) -> Iterator[Controller]:
    controller = start_smtp_server(smtp_handler)
    yield controller
    controller.stop()
