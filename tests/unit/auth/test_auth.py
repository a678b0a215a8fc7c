"""Passwords, bearer tokens, principals, and the purpose rules on customer-data routes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import bearer
from tests.support import probe
from vault.auth import tokens
from vault.auth.models import ApiClient
from vault.auth.passwords import hash_password, verify_password
from vault.auth.service import revoke_api_client
from vault.clock import FixedClock
from vault.db import db


def test_passwords_are_argon2id_hashes() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse battery staple")
    assert not verify_password(hashed, "correct horse battery stapler")
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")


def test_tokens_carry_256_random_bits_and_only_a_hash_is_kept() -> None:
    issued = tokens.issue_token()
    assert issued.value.startswith("vault_")
    assert len(issued.secret) >= 43  # 32 bytes, base64url
    assert tokens.parse_token(issued.value) == (issued.key_id, issued.secret)
    assert issued.secret not in issued.secret_hash
    assert tokens.secret_matches(issued.secret_hash, issued.secret)
    flipped = issued.secret[:-1] + ("B" if issued.secret.endswith("A") else "A")
    assert not tokens.secret_matches(issued.secret_hash, flipped)
    assert not tokens.secret_matches(None, issued.secret)


@pytest.mark.parametrize(
    "value", ["", "vault_", "vault_zz_" + "a" * 43, "bearer_0123456789abcdef_" + "a" * 43]
)
def test_malformed_tokens_do_not_parse(value: str) -> None:
    assert tokens.parse_token(value) is None


def test_the_database_holds_no_token_secret(app: Flask, make_token: Callable[..., str]) -> None:
    token = make_token(role="sales")
    secret = token.split("_", 2)[2]
    with app.app_context():
        row = db.session.scalar(sa.select(ApiClient))
        assert row is not None
        assert secret not in row.token_hash
        assert row.token_hash == tokens.hash_secret(secret)


def test_a_valid_token_authenticates(client: FlaskClient, make_token: Callable[..., str]) -> None:
    token = make_token(role="sales", name="crm-eu")
    body = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert body["kind"] == "client"
    assert body["name"] == "crm-eu"
    assert body["roles"] == ["sales"]
    assert body["purposes"] == ["sales"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer vault_0123456789abcdef_" + "A" * 43,
    ],
)
def test_missing_or_bad_credentials_are_401(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_tampered_secret_is_401(client: FlaskClient, make_token: Callable[..., str]) -> None:
    token = make_token()
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get("/api/v1/me", headers=bearer(tampered)).status_code == 401


def test_an_expired_token_is_401(
    client: FlaskClient, make_token: Callable[..., str], clock: FixedClock
) -> None:
    token = make_token(expires_days=1)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    clock.advance(days=1, seconds=1)
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_token"


def test_a_revoked_token_is_401(
    app: Flask, client: FlaskClient, make_token: Callable[..., str], clock: FixedClock
) -> None:
    token = make_token()
    with app.app_context(), db.transaction() as session:
        revoke_api_client(session, "cli_" + token.split("_")[1], now=clock.now())
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_a_purpose_limit_narrows_the_role(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    token = make_token(role="support", purposes=("support",))
    assert client.get("/api/v1/me", headers=bearer(token)).get_json()["purposes"] == ["support"]


@pytest.fixture
def probed(app: Flask) -> Flask:
    probe.install(app)
    return app


def test_customer_data_routes_require_x_purpose(
    probed: Flask, make_token: Callable[..., str]
) -> None:
    response = probed.test_client().get("/api/v1/probe-customers", headers=bearer(make_token()))
    assert response.status_code == 400
    assert response.get_json()["code"] == "purpose_required"


def test_a_purpose_outside_the_role_is_403(probed: Flask, make_token: Callable[..., str]) -> None:
    token = make_token(role="sales")
    response = probed.test_client().get(
        "/api/v1/probe-customers", headers=bearer(token, **{"X-Purpose": "marketing"})
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "purpose_not_allowed"


def test_an_unknown_purpose_is_403(probed: Flask, make_token: Callable[..., str]) -> None:
    response = probed.test_client().get(
        "/api/v1/probe-customers", headers=bearer(make_token(), **{"X-Purpose": "gossip"})
    )
    assert response.status_code == 403


def test_an_allowed_purpose_reaches_the_route(
    probed: Flask, make_token: Callable[..., str]
) -> None:
    response = probed.test_client().get(
        "/api/v1/probe-customers",
        headers=bearer(make_token(role="sales"), **{"X-Purpose": "sales"}),
    )
    assert response.status_code == 200
    assert response.get_json()["purpose"] == "sales"


def test_authentication_comes_before_the_purpose(probed: Flask) -> None:
    response = probed.test_client().get("/api/v1/probe-customers", headers={"X-Purpose": "sales"})
    assert response.status_code == 401


def test_roles_without_purposes_get_none(
    client: FlaskClient, make_token: Callable[..., str]
) -> None:
    for role in ("admin", "compliance_officer", "staff"):
        body = client.get("/api/v1/me", headers=bearer(make_token(role=role))).get_json()
        assert body["purposes"] == [], role


def test_the_vault_hashes_passwords_with_the_rfc_9106_low_memory_profile() -> None:
    """The suite hashes with a cheap profile (tests/conftest.py); the vault itself, in a
    process of its own, uses argon2id with t=3, m=64 MiB, p=4."""
    code = "from vault.auth.passwords import hash_password; print(hash_password('a password'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    assert done.stdout.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_require_role_returns_the_id_or_refuses_with_the_reason() -> None:
    from vault.auth.principal import Principal
    from vault.errors import Forbidden

    officer = Principal("user", "usr_1", "o@example.com", frozenset({"compliance_officer"}),
                        frozenset())  # fmt: skip
    assert officer.require_role("admin", "compliance_officer", because="x") == "usr_1"
    with pytest.raises(Forbidden) as refused:
        officer.require_role("admin", because="roles are managed by admins")
    assert refused.value.detail == "roles are managed by admins"
