"""The dashboard shows each role what it watches, as charts drawn from the vault's counts
(inline SVG, nothing fetched, no style attribute for the CSP to refuse), with the same
figures as a table, and never a customer's value."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask

from tests.helpers import PASSWORD, SAMPLE_FIELDS, ask_in_ui, bearer, form_token, log_in
from vault.clock import FixedClock


def _dashboard(app: Flask, email: str) -> str:
    client = app.test_client()
    assert log_in(client, email, PASSWORD).status_code == 302
    answer = client.get("/admin/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    for value in SAMPLE_FIELDS.values():
        assert str(value) not in page
    for chart in re.findall(r"<svg.*?</svg>", page, re.S):
        assert "style=" not in chart
        assert "<script" not in chart
    return page


def _titles(page: str) -> list[str]:
    """What each chart says in words (its title: read aloud, and shown on hovering)."""
    return re.findall(r'<title id="chart-\d+">(.*?)</title>', page)


def test_an_officer_sees_the_queue_the_audit_trail_and_consent(
    app: Flask, make_user: Callable[..., str], make_token: Callable[..., str],
    customer_id: str, clock: FixedClock,
) -> None:  # fmt: skip
    make_user("officer@example.com", roles=("compliance_officer",))
    client = app.test_client()
    asked = client.post("/privacy/requests", json={"email": SAMPLE_FIELDS["email"],
                                                   "type": "export"})  # fmt: skip
    assert asked.status_code == 202
    crm = bearer(make_token(role="sales", name="crm-2"), **{"X-Purpose": "sales"})
    withdrawn = client.post(
        f"/api/v1/customers/{customer_id}/consents",
        headers=crm,
        json={"purpose": "marketing", "granted": False, "source": "web"},
    )
    assert withdrawn.status_code == 201, withdrawn.get_json()
    assert client.get("/api/v1/customers/cus_" + "0" * 32, headers=crm).status_code == 404

    page = _dashboard(app, "officer@example.com")
    titles = _titles(page)
    assert any(t.startswith("Privacy requests by status: pending verification 1;") for t in titles)
    (audit,) = [t for t in titles if t.startswith("Audit events and refused attempts")]
    assert re.search(r"events [1-9]\d*; refused [1-9]", audit), audit
    assert "Consents to marketing given and withdrawn per day" in page
    assert "<strong>1</strong> withdrawn" in page
    assert '<th scope="col">refused</th>' in page  # the figures, as a table too
    assert "Webhook backlog" not in page  # an admin's concern
    assert 'href="/admin/privacy-requests?overdue=yes"' in page

    clock.advance(days=31)  # the request is now overdue
    later = _dashboard(app, "officer@example.com")
    assert re.search(r'overdue=yes"><strong>1</strong> overdue', later)


def test_an_admin_sees_clients_webhooks_and_keys(
    app: Flask, make_user: Callable[..., str], make_token: Callable[..., str], customer_id: str
) -> None:
    make_user("admin@example.com", roles=("admin",))
    make_token(role="support", name="helpdesk")
    page = _dashboard(app, "admin@example.com")
    titles = _titles(page)
    assert "Data keys wrapped under each master-key version: version 1 1" in titles
    assert "<td>helpdesk</td>" in page
    assert "Webhook backlog" in page
    assert "Privacy requests" not in page  # a compliance officer's concern


def test_an_owner_sees_what_waits_and_the_requester_their_grant(
    app: Flask, make_user: Callable[..., str], sensitive_owner: str, customer_id: str
) -> None:
    make_user("analyst@example.com", roles=("staff",))
    staff = app.test_client()
    ask_in_ui(staff, "analyst@example.com", customer_id, "fraud case 7")
    owner_page = _dashboard(app, "owner@example.com")
    assert "Waiting for your decision" in owner_page
    assert re.search(r"<strong>1</strong> waiting", owner_page)
    mine = _dashboard(app, "analyst@example.com")
    assert "Your access requests" in mine
    assert "<td>pending</td>" in mine

    owner = app.test_client()
    assert log_in(owner, "owner@example.com", PASSWORD).status_code == 302
    listing = owner.get("/admin/access-requests").get_data(as_text=True)
    action = re.search(r'action="(/admin/access-requests/[^"]+/approve)"', listing)
    assert action is not None
    assert owner.post(action[1], data={"csrf_token": form_token(listing)}).status_code == 302
    granted = _dashboard(app, "analyst@example.com")
    assert "<td>approved</td>" in granted
    assert "<strong>1</strong> granted now" in granted
    assert "Nothing waits for you." in _dashboard(app, "owner@example.com")
