"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import Tokens


@pytest.fixture
def tokens(make_token: Callable[..., str]) -> Tokens:
    return {
        "sales": make_token(role="sales", name="crm"),
        "support": make_token(role="support", name="helpdesk"),
        "marketing": make_token(role="marketing", name="newsletter"),
        "sales_us": make_token(role="sales", name="crm-us", regions=("US",)),
    }
