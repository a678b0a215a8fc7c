"""Each role's main task in the admin UI, end to end in Chromium against a served vault, at
1280 px and at 390 px: the dashboard with its charts, then the task (the officer extends an
overdue request and exports the audit log of a day; the admin makes a token, revokes it and
sees it refused by the API; a data owner approves a staff member's request, who then opens
the customer with its consents and interactions). Every page is screenshot under
tests/browser/screens/ and checked for horizontal overflow."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.helpers import PASSWORD, SAMPLE_FIELDS
from tests.support.served import served_vault
from vault import runtime
from vault.auth.service import create_user
from vault.customers.interactions import add_interaction
from vault.db import db
from vault.governance.access_requests import set_owner
from vault.governance.consent import record_consent
from vault.governance.models import PrivacyRequest

pytestmark = pytest.mark.slow
SCREENS = Path(__file__).parent / "screens"
WIDTHS = (1280, 390)
# the analyst: a member of the support team, who reads contact data and support tickets for
# support and asks for more (a customer's sensitive data) when a case needs it
USERS = {"officer": "compliance_officer", "admin": "admin", "owner": "data_owner",
         "analyst": "support"}  # fmt: skip


@pytest.fixture
def served(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[tuple[Flask, str, str]]:
    """A vault with a user per role (the owner owns sensitive data), a customer with a
    consent and interactions, and an overdue privacy request; yields it, its URL and the
    customer's id."""
    app = make_app()
    with app.app_context():
        store = runtime.customer_store()
        customer = store.create(SAMPLE_FIELDS, region="EU")
        record_consent(store, customer, purpose="marketing", granted=True, source="web")
        add_interaction(store, customer, kind="support_ticket", channel="helpdesk",
                        text="Parcel arrived late")  # fmt: skip
        ids = {name: create_user(db.session, email=f"{name}@example.com", password=PASSWORD,
                                 roles=[role]).id for name, role in USERS.items()}  # fmt: skip
        set_owner(db.session, store.catalogue, "sensitive", ids["owner"], now=runtime.now())
        db.session.commit()
    with served_vault(app, tmp_path / "served.log") as url:
        yield app, url, customer


def _overdue_request(app: Flask, url: str) -> str:
    """A customer's export request, received 40 days ago: overdue."""
    body = json.dumps({"email": SAMPLE_FIELDS["email"], "type": "export"}).encode()
    asked = urllib.request.Request(f"{url}/privacy/requests", data=body, method="POST",  # noqa: S310
                                   headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(asked, timeout=10) as answer:  # noqa: S310  (127.0.0.1)
        request_id = str(json.load(answer)["id"])
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)  # the served vault's clock
    with app.app_context():
        db.session.execute(
            sa.update(PrivacyRequest).where(PrivacyRequest.id == request_id)
            .values(received_at=then, due_at=then + dt.timedelta(days=30), status="verified")
        )  # fmt: skip
        db.session.commit()
    return request_id


def _signed_in(browser: Browser, url: str, name: str, width: int) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{url}/admin/login")
    page.fill("#email", f"{name}@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")
    return context, page


def _shoot(page: Page, name: str) -> None:
    """A screenshot of the whole page, which must not be wider than the window."""
    SCREENS.mkdir(exist_ok=True)
    page.wait_for_load_state("load")  # its stylesheet applied before anything is measured
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name


def _go(page: Page, label: str) -> None:
    """Follow the menu to ``label`` (opening the folded menu at phone width)."""
    if page.locator("label.menu-button").is_visible():
        page.click("label.menu-button")
    page.click(f"nav.menu >> text={label}")
    expect(page.locator("nav.menu a[aria-current=page]")).to_have_text(label)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_officer_extends_an_overdue_request_and_exports_a_day(
    browser: Browser, served: tuple[Flask, str, str], width: int
) -> None:
    app, url, _customer = served
    request_id = _overdue_request(app, url)
    context, page = _signed_in(browser, url, "officer", width)
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.locator("text=overdue").first).to_be_visible()
    _shoot(page, f"officer-dashboard-{width}")
    page.click("a:has-text('overdue')")
    expect(page.locator(f"text={request_id}")).to_be_visible()
    expect(page.locator("text=OVERDUE").first).to_be_visible()
    row = page.locator(f"tr#{request_id}")
    row.locator("summary:has-text('Extend…')").click()
    row.locator(f"#reason-{request_id}").fill("the export is large")
    row.locator("button:has-text('Extend once')").click()
    expect(page.locator(".flash")).to_contain_text(f"Request {request_id} is now due on")
    _shoot(page, f"officer-extended-{width}")
    _go(page, "Audit log")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    page.fill("#filter-since", today)
    page.fill("#filter-until", today)
    page.click("button:has-text('Show')")
    expect(page.locator("table.audit tbody tr").first).to_be_visible()
    assert f"since={today}" in page.url
    _shoot(page, f"officer-audit-{width}")
    with page.expect_download() as download:
        page.click("a:has-text('csv')")
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert "privacy_request.extend" in exported
    assert SAMPLE_FIELDS["email"] not in exported
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_makes_a_token_revokes_it_and_the_api_refuses_it(
    browser: Browser, served: tuple[Flask, str, str], width: int
) -> None:
    _app, url, _customer = served
    context, page = _signed_in(browser, url, "admin", width)
    expect(page.locator("text=Master keys")).to_be_visible()
    _shoot(page, f"admin-dashboard-{width}")
    _go(page, "API clients")
    page.fill("#name", f"crm-{width}")
    page.select_option("#role", "sales")
    page.check("input[value='sales']")
    page.click("button:has-text('Create the client')")
    token = page.inner_text("#token")
    assert token.startswith("vault_")
    assert _status(f"{url}/api/v1/me", token) == 200
    _shoot(page, f"admin-token-{width}")
    page.click("text=Back to API clients")
    page.click(f"tr:has-text('crm-{width}') >> text=Revoke…")
    page.click("button:has-text('Revoke for good')")
    expect(page.locator(".flash")).to_contain_text("revoked")
    _shoot(page, f"admin-clients-{width}")
    assert _status(f"{url}/api/v1/me", token) == 401
    context.close()


def _status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  (127.0.0.1)
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.mark.parametrize("width", WIDTHS)
def test_an_owner_approves_and_the_analyst_opens_the_customer(
    browser: Browser, served: tuple[Flask, str, str], width: int
) -> None:
    _app, url, customer = served
    analyst_context, analyst = _signed_in(browser, url, "analyst", width)
    _shoot(analyst, f"analyst-dashboard-{width}")
    _go(analyst, "Access requests")
    analyst.select_option("#purpose", "support")
    analyst.select_option("#categories", ["sensitive"])
    analyst.fill("#customer_ids", customer)
    analyst.fill("#justification", "fraud case 2211")
    analyst.click("button:has-text('Ask')")
    expect(analyst.locator("td.status").first).to_have_text("pending")

    owner_context, owner = _signed_in(browser, url, "owner", width)
    expect(owner.locator("text=Waiting for your decision")).to_be_visible()
    _shoot(owner, f"owner-dashboard-{width}")
    _go(owner, "Access requests")
    owner.click("tr:has-text('fraud case 2211') >> button:has-text('Approve')")
    expect(owner.locator("td.status").first).to_have_text("approved")
    _shoot(owner, f"owner-approved-{width}")
    owner_context.close()

    analyst.reload()
    analyst.click("text=Open the customers")
    expect(analyst.locator(f"h2:has-text('{customer}')")).to_be_visible()
    expect(analyst.locator(f"text={SAMPLE_FIELDS['national_id']}")).to_be_visible()
    expect(analyst.locator("text=Consents")).to_be_visible()
    expect(analyst.locator("summary:has-text('marketing')")).to_be_visible()
    expect(analyst.locator("h3:has-text('Interactions')")).to_be_visible()
    expect(analyst.locator("td:has-text('Parcel arrived late')")).to_be_visible()
    assert re.search(r"/admin/access-requests/[^/]+/customers$", analyst.url)
    _shoot(analyst, f"analyst-customer-{width}")
    analyst_context.close()
