"""Browser tests: a real Chromium (Debian's, driven by Playwright) against a real `vault serve`.
A customer asks for a copy of their data on the privacy portal, confirms with the mailed code
and downloads the ZIP; a compliance officer logs in to the admin UI and finds the request in
the queue; an admin makes a webhook subscription at phone width."""

from __future__ import annotations

import email
import email.policy
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.helpers import PASSWORD, SAMPLE_FIELDS
from tests.support.served import served_vault
from vault import runtime
from vault.auth.service import create_api_client, create_user
from vault.db import db


@pytest.fixture
def served(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """A committed vault, served by `vault serve` on a free port; yields it and its URL."""
    app = make_app()
    with app.app_context():
        runtime.customer_store().create(SAMPLE_FIELDS, region="EU")
        create_user(db.session, email="officer@example.com", password=PASSWORD,
                    roles=["compliance_officer"])  # fmt: skip
        db.session.commit()
    with served_vault(app, tmp_path / "served.log") as url:
        yield app, url


def newest_code(app: Flask) -> str:
    outbox = Path(app.config["VAULT_SETTINGS"].instance_path) / "outbox"
    newest = sorted(outbox.glob("*.eml"))[-1]
    message = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    return next(line for line in content.splitlines() if re.fullmatch(r"\d{8}", line))


def log_in(page: Page, email: str) -> None:
    """Send the admin UI's log-in form, which ``page`` shows, for ``email``."""
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_a_customer_downloads_their_data_and_an_officer_sees_the_request(
    browser: Browser, served: tuple[Flask, str]
) -> None:
    app, url = served
    page: Page = browser.new_page()
    page.goto(url + "/privacy")
    page.fill("#email", SAMPLE_FIELDS["email"])
    page.check("input[value=export]")
    page.click("button[type=submit]")
    page.wait_for_selector("#code")
    request_id = page.inner_text("code")
    assert request_id.startswith("prq_")
    page.fill("#code", newest_code(app))
    page.click("button[type=submit]")
    page.wait_for_selector("#download")
    with page.expect_download() as caught:
        page.click("#download")
    archive = zipfile.ZipFile(io.BytesIO(Path(caught.value.path()).read_bytes()))
    assert "data.json" in archive.namelist()
    assert SAMPLE_FIELDS["national_id"] in archive.read("data.json").decode()

    staff: Page = browser.new_page()
    staff.goto(url + "/admin/login")
    log_in(staff, "officer@example.com")
    staff.click("text=Privacy requests")
    staff.wait_for_selector("table")
    row = staff.locator("tr", has_text=request_id)
    assert "completed" in row.inner_text()
    staff.click("text=Audit log")
    staff.fill("input[name=action]", "privacy.download")
    staff.click("text=Show")
    # the click returns once the filtered page starts loading: wait for its rows, not a snapshot
    expect(staff.locator("tbody tr")).to_have_count(1)


# Registered before any page script runs (Playwright injects it outside the page's policy):
# every Content-Security-Policy violation the document reports is kept for the test to read.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
POLICY_WORDS = ("Content Security Policy", "Content-Security-Policy", "Permissions-Policy")


class WatchedPage:
    """A page whose policy complaints (violation events, console messages about the security
    headers, uncaught script errors) are collected."""

    def __init__(self, browser: Browser) -> None:
        self.page = browser.new_page()
        self.complaints: list[str] = []
        self.page.add_init_script(WATCH_VIOLATIONS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.complaints.append(f"error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if any(word in message.text for word in POLICY_WORDS):
            self.complaints.append(f"console: {message.text}")

    def open(self, url: str) -> None:
        """Go to ``url``; the answer must carry the vault's policy, or there is nothing to keep."""
        answer = self.page.goto(url)
        assert answer is not None
        assert "default-src 'none'" in answer.headers.get("content-security-policy", "")

    def assert_kept_to_the_policy(self) -> None:
        self.page.wait_for_load_state("networkidle")
        violations = self.page.evaluate("window.__violations")
        assert violations == [], violations
        assert self.complaints == [], self.complaints


def test_the_pages_keep_to_the_content_security_policy(
    browser: Browser, served: tuple[Flask, str], tmp_path: Path
) -> None:
    _app, url = served
    watched = WatchedPage(browser)
    page = watched.page

    watched.open(url + "/admin/login")
    assert page.eval_on_selector(".card", "e => getComputedStyle(e).borderTopLeftRadius") == "8px"
    watched.assert_kept_to_the_policy()
    log_in(page, "officer@example.com")
    page.wait_for_selector("h1:has-text('Dashboard')")
    assert page.eval_on_selector(".menu a", "e => getComputedStyle(e).textDecorationLine") == "none"
    watched.assert_kept_to_the_policy()

    watched.open(url + "/privacy")
    page.wait_for_selector("#email")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(tmp_path / f"portal-{width}.png"), full_page=True)
        box = page.eval_on_selector("main", "e => e.getBoundingClientRect().toJSON()")
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing spills
        if width == 1280:  # the stylesheet's card: 34rem and its padding, centred
            assert box["width"] == 608
            assert abs(box["x"] - (width - box["width"]) / 2) <= 8
        else:
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= width
    email_box = page.eval_on_selector("#email", "e => e.getBoundingClientRect().width")
    assert email_box > 200  # the field spans the card at phone width too
    watched.assert_kept_to_the_policy()

    page.set_viewport_size({"width": 1280, "height": 900})
    watched.open(url + "/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) > 20
    assert any(text.replace("\u200b", "") == "/api/v1/me" for text in paths)
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Vault")
    page.screenshot(path=str(tmp_path / "docs-1280.png"))
    watched.assert_kept_to_the_policy()


def test_an_admin_makes_and_pauses_a_subscription_at_phone_width(
    browser: Browser, served: tuple[Flask, str]
) -> None:
    app, url = served
    with app.app_context():
        create_user(db.session, email="admin@example.com", password=PASSWORD, roles=["admin"])
        create_api_client(db.session, name="crm", role="sales", now=runtime.now())
        db.session.commit()
    watched = WatchedPage(browser)
    page = watched.page
    page.set_viewport_size({"width": 390, "height": 844})
    watched.open(url + "/admin/login")
    log_in(page, "admin@example.com")
    # at phone width the menu is folded behind its button, and the account stays in sight
    expect(page.locator("nav.menu")).to_be_hidden()
    expect(page.locator("button:has-text('Log out')")).to_be_in_viewport()
    page.click("label.menu-button")
    page.click("nav.menu >> text=Subscriptions")
    page.click("text=New subscription")
    page.fill("#name", "crm-hooks")
    page.fill("#url", "ftp://crm.example.org/hooks")
    page.click("button:has-text('Create subscription')")
    expect(page.locator("#url-note .error")).to_contain_text("http or https")
    assert page.input_value("#name") == "crm-hooks"  # nothing typed is lost
    page.fill("#url", "https://crm.example.org/hooks")
    page.select_option("#client", "crm")
    page.check("input[value='customer.erased']")
    page.click("button:has-text('Create subscription')")
    assert page.inner_text("#secret").startswith("whsec_")
    page.wait_for_load_state("load")  # measured with its stylesheet applied, not before
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("text=Back to subscriptions")
    page.click("button:has-text('Pause')")
    expect(page.locator("td.status")).to_have_text("paused")
    page.wait_for_load_state("load")
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    watched.assert_kept_to_the_policy()
