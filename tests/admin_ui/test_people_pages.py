"""API clients and staff users managed in the admin UI (admins): a token shown once, revoked
after a confirmation and refused on its next request; users created, disabled after a
confirmation and enabled; every change CSRF-checked and audited, every refusal shown beside
its field."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, bearer, events, form_token, log_in


def _admin(app: Flask, make_user: Callable[..., str]) -> FlaskClient:
    make_user("admin@example.com", roles=("admin",))
    client = app.test_client()
    assert log_in(client, "admin@example.com", PASSWORD).status_code == 302
    return client


def test_an_admin_makes_a_token_and_revokes_it(app: Flask, make_user: Callable[..., str]) -> None:
    admin = _admin(app, make_user)
    page = admin.get("/admin/clients").get_data(as_text=True)
    made = admin.post("/admin/clients", data={
        "csrf_token": form_token(page), "name": "crm-eu", "role": "sales",
        "purposes": ["sales"], "expires_days": "90"})  # fmt: skip
    assert made.status_code == 200
    token = re.search(r'<code id="token">([^<]+)</code>', made.get_data(as_text=True))
    assert token is not None
    api = app.test_client()
    assert api.get("/api/v1/me", headers=bearer(token[1])).status_code == 200
    listing = admin.get("/admin/clients").get_data(as_text=True)
    assert "crm-eu" in listing
    assert token[1] not in listing  # shown once, never again
    revoke = re.search(r'href="(/admin/clients/[^"]+/revoke)"', listing)
    assert revoke is not None
    confirm = admin.get(revoke[1]).get_data(as_text=True)
    assert "Revoke for good" in confirm
    assert admin.post(revoke[1]).status_code == 400  # no CSRF token: nothing revoked
    assert api.get("/api/v1/me", headers=bearer(token[1])).status_code == 200
    done = admin.post(revoke[1], data={"csrf_token": form_token(confirm)})
    assert done.status_code == 302
    assert api.get("/api/v1/me", headers=bearer(token[1])).status_code == 401
    assert "revoked" in admin.get("/admin/clients").get_data(as_text=True)
    (created,) = events(app, "client.create")
    (revoked,) = events(app, "client.revoke")
    assert created.actor_kind == revoked.actor_kind == "user"


def test_a_bad_client_is_named_beside_its_field(app: Flask, make_user: Callable[..., str]) -> None:
    admin = _admin(app, make_user)
    page = admin.get("/admin/clients").get_data(as_text=True)
    bad = admin.post("/admin/clients", data={
        "csrf_token": form_token(page), "name": "", "role": "sales"})  # fmt: skip
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'class="field invalid"' in html
    assert "Unprocessable" not in html


def test_an_admin_makes_disables_and_enables_a_user(
    app: Flask, make_user: Callable[..., str]
) -> None:
    admin = _admin(app, make_user)
    page = admin.get("/admin/users").get_data(as_text=True)
    bad = admin.post("/admin/users", data={
        "csrf_token": form_token(page), "email": "not an address", "password": PASSWORD,
        "roles": ["staff"]})  # fmt: skip
    assert bad.status_code == 422
    assert re.search(r'id="email-note"><span class="error">', bad.get_data(as_text=True))
    made = admin.post("/admin/users", data={
        "csrf_token": form_token(page), "email": "new.hire@example.com", "password": PASSWORD,
        "roles": ["support"]})  # fmt: skip
    assert made.status_code == 302
    newcomer = app.test_client()
    assert log_in(newcomer, "new.hire@example.com", PASSWORD).status_code == 302

    listing = admin.get("/admin/users").get_data(as_text=True)
    disable = re.search(r'href="(/admin/users/[^"]+/disable)"', listing)
    assert disable is not None
    confirm = admin.get(disable[1]).get_data(as_text=True)
    assert "new.hire@example.com" in confirm
    assert admin.post(disable[1], data={"csrf_token": form_token(confirm)}).status_code == 302
    assert newcomer.get("/admin/").status_code == 302  # the session ended: back to log-in
    assert log_in(app.test_client(), "new.hire@example.com", PASSWORD).status_code == 401
    listing = admin.get("/admin/users").get_data(as_text=True)
    enable = re.search(r'action="(/admin/users/[^"]+/enable)"', listing)
    assert enable is not None
    assert admin.post(enable[1], data={"csrf_token": form_token(listing)}).status_code == 302
    assert log_in(app.test_client(), "new.hire@example.com", PASSWORD).status_code == 302
    assert {"user.create", "user.disable", "user.enable"} <= {e.action for e in events(app)}
