"""The menu shows each role the pages it may use, and only those: every link answers the
person who sees it, and the pages left out of someone's menu are the ones that refuse them."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask, url_for

from admin_ui.navigation import PAGES
from tests.helpers import log_in
from vault.defaults import ROLE_PURPOSES, ROLES


def _menu(html: str) -> list[str]:
    block = re.search(r'<nav class="menu"[^>]*>(.*?)</nav>', html, re.S)
    assert block is not None
    return re.findall(r'href="([^"]+)"', block[1])


def test_every_link_of_every_roles_menu_answers_and_no_page_is_hidden(
    app: Flask, make_user: Callable[..., str]
) -> None:
    with app.test_request_context():
        every_page = {url_for(page.endpoint) for page in PAGES}
        customers = url_for("admin.customers")
    seen: dict[str, list[str]] = {}
    for role in ROLES:
        email = f"{role}@example.com"
        make_user(email, roles=(role,))
        client = app.test_client()
        assert log_in(client, email).status_code == 302
        dashboard = client.get("/admin/")
        assert dashboard.status_code == 200
        links = _menu(dashboard.get_data(as_text=True))
        seen[role] = links
        for link in links:
            page = client.get(link)
            assert page.status_code == 200, (role, link, page.status_code)
            assert 'aria-current="page"' in page.get_data(as_text=True), (role, link)
        for left_out in every_page - set(links):
            answer = client.get(left_out).status_code
            # the customer page of a role that may state no purpose has nothing to show, and
            # says so; every other page left out refuses the role
            expected = 200 if left_out == customers and not ROLE_PURPOSES.get(role) else 403
            assert answer == expected, (role, left_out, answer)
    assert "/admin/subscriptions" in seen["admin"]
    assert "/admin/privacy-requests" not in seen["admin"]
    assert "/admin/customers" not in seen["admin"]  # admins see no customer values
    assert "/admin/privacy-requests" in seen["compliance_officer"]
    assert "/admin/policies" not in seen["compliance_officer"]
    assert "/admin/customers" in seen["sales"]
    assert "/admin/audit" not in seen["sales"]
