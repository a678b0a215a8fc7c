"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.helpers import Tokens
from vault.bootstrap import prepare_database
from vault.db import db
from vault.policies.plan import Rule
from vault.policies.service import add_rules, create_role


@pytest.fixture
def tokens(make_token: Callable[..., str]) -> Tokens:
    return {
        "sales": make_token(role="sales", name="crm"),
        "support": make_token(role="support", name="helpdesk"),
        "marketing": make_token(role="marketing", name="newsletter"),
        "sales_us": make_token(role="sales", name="crm-us", regions=("US",)),
    }


@pytest.fixture
def optin_token(app: Flask, make_token: Callable[..., str]) -> str:
    """The token of a consumer system that records customers' opt-ins to marketing: the sales
    role's rules, and the purposes sales and marketing with writing ``interests`` for
    marketing (granting consent to a purpose needs write access for it, which no shipped
    role has for marketing)."""
    with app.app_context(), db.transaction() as session:
        create_role(session, name="crm_optin", description="sales, and marketing opt-ins",
                    purposes=["sales", "marketing"], inherits=["sales"])  # fmt: skip
        add_rules(session, [Rule("crm_optin", "interests", "marketing", "write", "allow")])
    return make_token(role="crm_optin", name="crm-optin")


@pytest.fixture
def two_workers(make_app: Callable[..., Flask], fresh_database_url: str) -> tuple[Flask, Flask]:
    """Two apps over one migrated database of their own, as two workers of a vault are."""
    prepare_database(fresh_database_url)
    return make_app(fresh_database_url), make_app(fresh_database_url)
