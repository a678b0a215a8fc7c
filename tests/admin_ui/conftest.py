"""Fixtures of the admin UI's tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.helpers import bearer


@pytest.fixture
def sensitive_owner(
    app: Flask, make_user: Callable[..., str], make_token: Callable[..., str]
) -> str:
    """A data owner who owns the category "sensitive"; returns the user's id."""
    owner_id = make_user("owner@example.com", roles=("data_owner",))
    admin = bearer(make_token(role="admin", name="ops"))
    assigned = app.test_client().put("/api/v1/ownership/sensitive", json={"user_id": owner_id},
                                     headers=admin)  # fmt: skip
    assert assigned.status_code == 200
    return owner_id
