"""The admin UI's governance pages: each shows what the API shows, only to the roles the API
allows, audits the viewing, and never shows a customer value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import (
    PASSWORD,
    SAMPLE_FIELDS,
    ask_in_ui,
    bearer,
    form_token,
    log_in,
)
from tests.support.receiver import running_receiver
from vault import jobs, runtime
from vault.audit.models import AuditEvent
from vault.clock import FixedClock
from vault.db import db
from vault.governance.models import AccessRequest

PAGES = ["/admin/fields", "/admin/purposes", "/admin/retention", "/admin/audit",
         "/admin/privacy-requests"]  # fmt: skip


@pytest.fixture
def officer(client: FlaskClient, make_user: Callable[..., str]) -> FlaskClient:
    make_user("officer@example.com", roles=("compliance_officer",))
    assert log_in(client, "officer@example.com", PASSWORD).status_code == 302
    return client


@pytest.fixture
def customer_id(app: Flask, make_token: Callable[..., str]) -> str:
    sales = bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})
    client = app.test_client()
    created = client.post("/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
                          headers=sales)  # fmt: skip
    assert created.status_code == 201
    customer: str = created.get_json()["id"]
    assert client.get(f"/api/v1/customers/{customer}", headers=sales).status_code == 200
    return customer


def test_an_officer_sees_every_governance_page_and_no_value(
    officer: FlaskClient, app: Flask, customer_id: str, clock: FixedClock
) -> None:
    asked = officer.post("/privacy/requests",
                         json={"email": SAMPLE_FIELDS["email"], "type": "export"})  # fmt: skip
    request_id = asked.get_json()["id"]
    clock.advance(days=31)
    # the session of 31 days ago has ended; the officer logs in again
    assert log_in(officer, "officer@example.com", PASSWORD).status_code == 302
    texts = {}
    for page in PAGES:
        response = officer.get(page)
        assert response.status_code == 200, page
        texts[page] = response.get_data(as_text=True)
    assert "ret_erase_inactive_customers" in texts["/admin/retention"]
    assert "legitimate interest" in texts["/admin/purposes"]
    assert "national_id" in texts["/admin/fields"]
    assert "customer.read" in texts["/admin/audit"]
    queue = texts["/admin/privacy-requests"]
    assert request_id in queue
    assert "OVERDUE" in queue
    assert "2026-01-31" in queue  # due 30 days after 2026-01-01
    for text in texts.values():
        for value in (SAMPLE_FIELDS["email"], SAMPLE_FIELDS["family_name"],
                      SAMPLE_FIELDS["national_id"], SAMPLE_FIELDS["phone"]):  # fmt: skip
            assert value not in text

    filtered = officer.get(f"/admin/audit?customer={customer_id}&action=customer.read")
    shown = filtered.get_data(as_text=True)
    rows = len(re.findall(r'<tr class="(?:allowed|denied|error)">', shown))
    assert rows == 1
    stale = officer.get("/admin/audit?verify=1").get_data(as_text=True)
    assert "The log is broken" in stale  # 31 days of events and no sealer: not intact
    assert "longer than the limit of 300 s" in stale
    with app.app_context():
        runtime.audit_log().seal(db.session, now=clock.now())  # what the worker does
    verified = officer.get("/admin/audit?verify=1").get_data(as_text=True)
    assert "The log is intact" in verified
    assert "/api/v1/audit/export?format=csv" in verified
    exported = officer.get("/api/v1/audit/export?format=csv")
    assert exported.status_code == 200
    with app.app_context():
        seen = set(
            db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.actor_kind == "user"))
        )
    assert {"privacy_request.read", "audit.read", "audit.verify", "retention.read"} <= seen


def test_pages_are_for_their_roles_and_for_logged_in_staff(
    client: FlaskClient, make_user: Callable[..., str]
) -> None:
    assert client.get("/admin/audit").status_code == 302  # to the log-in page
    make_user("sales@example.com", roles=("sales",))
    assert log_in(client, "sales@example.com", PASSWORD).status_code == 302
    assert client.get("/admin/fields").status_code == 200
    for page in ("/admin/audit", "/admin/privacy-requests", "/admin/retention"):
        refused = client.get(page)
        assert refused.status_code == 403, page
        assert "text/html" in refused.content_type


def test_staff_ask_for_a_view_and_the_owner_approves_it_in_the_admin_ui(
    app: Flask, make_user: Callable[..., str], sensitive_owner: str, customer_id: str
) -> None:
    make_user("analyst@example.com", roles=("staff",))
    staff_client, owner_client = app.test_client(), app.test_client()
    page = ask_in_ui(staff_client, "analyst@example.com", customer_id, "fraud case 2211")
    empty = staff_client.post("/admin/access-requests", data={
        "csrf_token": form_token(page), "purpose": "support", "categories": ["sensitive"],
        "justification": "no customers named", "duration_days": "3",
    })  # fmt: skip
    assert empty.status_code == 422

    assert log_in(owner_client, "owner@example.com", PASSWORD).status_code == 302
    listing = owner_client.get("/admin/access-requests").get_data(as_text=True)
    assert "fraud case 2211" in listing
    action = re.search(r'action="(/admin/access-requests/[^"]+/approve)"', listing)
    assert action is not None
    forged = owner_client.post(action[1])  # no CSRF token: nothing decided
    assert forged.status_code == 302
    assert "pending" in owner_client.get("/admin/access-requests").get_data(as_text=True)
    approved = owner_client.post(action[1], data={"csrf_token": form_token(listing)})
    assert approved.status_code == 302
    after = owner_client.get("/admin/access-requests").get_data(as_text=True)
    assert '<td class="status" data-label="status">approved</td>' in after
    # a staff member may not approve (they own no category)
    staff_page = staff_client.get("/admin/access-requests").get_data(as_text=True)
    assert "Approve" not in staff_page
    with app.app_context():
        decided = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.action.like("access_request.%"))
        ).all()
    assert {"access_request.create", "access_request.approve"} <= set(decided)


def test_the_requester_is_never_offered_a_decision_in_the_admin_ui(
    app: Flask, make_user: Callable[..., str], sensitive_owner: str, customer_id: str
) -> None:
    owner_id = sensitive_owner
    officer_id = make_user("officer@example.com", roles=("compliance_officer",))
    owner_client, officer_client = app.test_client(), app.test_client()
    ask_in_ui(owner_client, "owner@example.com", customer_id, "own fraud case 3301")
    listing = owner_client.get("/admin/access-requests").get_data(as_text=True)
    assert "own fraud case 3301" in listing
    assert "Approve" not in listing
    assert "Deny" not in listing
    with app.app_context():
        (request_id,) = db.session.scalars(sa.select(AccessRequest.id)).all()
    # posting the decision anyway decides nothing, and the refusal is audited
    for verb in ("approve", "deny"):
        refused = owner_client.post(f"/admin/access-requests/{request_id}/{verb}",
                                    data={"csrf_token": form_token(listing)})  # fmt: skip
        assert refused.status_code == 302
    after = owner_client.get("/admin/access-requests").get_data(as_text=True)
    assert "their own access request" in after
    assert '<td class="status" data-label="status">pending</td>' in after
    with app.app_context():
        denied = db.session.scalars(sa.select(AuditEvent.reason).where(
            AuditEvent.outcome == "denied", AuditEvent.actor_id == owner_id)).all()  # fmt: skip
    assert denied == [f"self_approval:{request_id}"] * 2
    # the only owner of "sensitive" asked: a compliance officer decides instead
    assert log_in(officer_client, "officer@example.com", PASSWORD).status_code == 302
    officer_page = officer_client.get("/admin/access-requests").get_data(as_text=True)
    action = re.search(r'action="(/admin/access-requests/[^"]+/approve)"', officer_page)
    assert action is not None
    assert request_id in action[1]
    assert "/deny" in officer_page
    done = officer_client.post(action[1], data={"csrf_token": form_token(officer_page)})
    assert done.status_code == 302
    with app.app_context():
        decided = db.session.get(AccessRequest, request_id)
        assert decided is not None
        assert (decided.status, decided.approvals) == ("approved", {"sensitive": officer_id})


def test_admins_see_roles_and_rules(client: FlaskClient, make_user: Callable[..., str]) -> None:
    make_user("root@example.com", roles=("admin",))
    assert log_in(client, "root@example.com", PASSWORD).status_code == 302
    page = client.get("/admin/policies").get_data(as_text=True)
    assert "mask:last4" in page
    assert "compliance_officer" in page


def test_staff_see_the_scoped_view_for_a_purpose_and_no_more(
    app: Flask, client: FlaskClient, make_user: Callable[..., str], customer_id: str
) -> None:
    make_user("support@example.com", roles=("support",))
    assert log_in(client, "support@example.com", PASSWORD).status_code == 302
    page = client.get("/admin/customers").get_data(as_text=True)
    found = client.post("/admin/customers", data={
        "csrf_token": form_token(page), "purpose": "support",
        "email": SAMPLE_FIELDS["email"].upper()})  # fmt: skip
    assert found.status_code == 200
    html = found.get_data(as_text=True)
    assert customer_id in html
    assert "+442079460958" in html  # support reads contact data, in clear
    assert SAMPLE_FIELDS["national_id"] not in html  # support never sees it
    # each withheld field says why; the consents and interactions come with the view
    assert re.search(
        r'<th scope="row">national_id</th><td class="muted" colspan="2">'
        r"withheld: [^<]*only an approved access grant shows it",
        html,
    )
    assert "<h3>Consents</h3>" in html
    assert "<h3>Interactions</h3>" in html
    assert "Fields, as you may see them for support" in html
    token = form_token(page)
    by_id = client.post("/admin/customers", data={
        "csrf_token": token, "purpose": "support", "customer_id": customer_id})  # fmt: skip
    assert customer_id in by_id.get_data(as_text=True)
    refused = client.post("/admin/customers", data={
        "csrf_token": token, "purpose": "marketing", "customer_id": customer_id})  # fmt: skip
    assert refused.status_code == 400  # a purpose the support role may not state
    unknown = client.post("/admin/customers", data={
        "csrf_token": token, "purpose": "support", "customer_id": "cus_nobody"})  # fmt: skip
    assert unknown.status_code == 404
    forged = client.post("/admin/customers", data={"purpose": "support",
                                                   "customer_id": customer_id})  # fmt: skip
    assert forged.status_code == 400  # no CSRF token: nothing looked up
    assert 'class="customer-card"' not in forged.get_data(as_text=True)
    with app.app_context():
        events = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.purpose, AuditEvent.actor_kind)
            .where(AuditEvent.action.in_(["customer.search", "customer.read"]),
                   AuditEvent.actor_kind == "user")
        ).all()  # fmt: skip
    assert [tuple(e) for e in events] == [("customer.search", "support", "user"),
                                          ("customer.read", "support", "user")]  # fmt: skip
    with app.app_context():
        details = db.session.scalars(
            sa.select(AuditEvent.action).where(
                AuditEvent.action.in_(["consent.read", "interaction.read"]),
                AuditEvent.actor_kind == "user", AuditEvent.purpose == "support",
            )
        ).all()  # fmt: skip
    assert sorted(details) == ["consent.read", "consent.read", "interaction.read",
                               "interaction.read"]  # fmt: skip


def submit(client: FlaskClient, page: str, target: str, **fields: str) -> str:
    """Post a page's form (with its CSRF token) and return the page it leads back to."""
    token = form_token(client.get(page).get_data(as_text=True))
    answer = client.post(target, data={"csrf_token": token, **fields})
    assert answer.status_code == 302
    return client.get(page).get_data(as_text=True)


def test_admins_change_rules_and_owners_in_the_admin_ui(
    app: Flask, client: FlaskClient, make_user: Callable[..., str]
) -> None:
    make_user("root@example.com", roles=("admin",))
    owner = make_user("keeper@example.com", roles=("data_owner",))
    assert log_in(client, "root@example.com", PASSWORD).status_code == 302
    page = submit(client, "/admin/policies", "/admin/policies/add", role="support",
                  obj="company", purpose="support", action="read", effect="mask:mask")  # fmt: skip
    added = re.search(r"Rule #(\d+) added", page)
    assert added is not None
    bad = submit(client, "/admin/policies", "/admin/policies/add", role="support",
                 obj="shoe_size", purpose="support", action="read", effect="allow")  # fmt: skip
    assert "Nothing was changed" in bad
    assert "shoe_size" not in bad.split("Nothing was changed")[1]  # no rule row added
    page = submit(client, "/admin/policies", "/admin/policies/remove", rule_id=added[1])
    assert f"Rule #{added[1]} removed." in page
    page = submit(client, "/admin/fields", "/admin/ownership", category="profile",
                  owner_email="keeper@example.com")  # fmt: skip
    assert f"The owner of profile is now {owner}." in page
    forged = client.post(
        "/admin/ownership", data={"category": "contact", "owner_email": "keeper@example.com"}
    )
    assert forged.status_code == 302
    assert "nothing was changed" in client.get("/admin/fields").get_data(as_text=True)
    with app.app_context():
        reasons = db.session.scalars(
            sa.select(AuditEvent.reason).where(
                AuditEvent.action.in_(["policy.change", "ownership.change"])
            )
        ).all()
    assert reasons == [f"added {added[1]}", f"removed {added[1]}", f"profile:{owner}"]


def test_officers_hold_lift_and_extend_in_the_admin_ui(
    officer: FlaskClient, customer_id: str
) -> None:
    page = submit(officer, "/admin/retention", "/admin/legal-holds", customer_id=customer_id,
                  reason="litigation 2026-07")  # fmt: skip
    hold = re.search(r"Hold (hold_[0-9a-f]+) placed", page)
    assert hold is not None
    assert customer_id in page.split("Legal holds in force")[1]
    # each hold is lifted from its own row, after a reason is given
    assert f'<input type="hidden" name="hold_id" value="{hold[1]}">' in page
    page = submit(officer, "/admin/retention", "/admin/legal-holds/lift", hold_id=hold[1],
                  reason="case closed")  # fmt: skip
    assert f"Hold {hold[1]} lifted." in page
    asked = officer.post("/privacy/requests",
                         json={"email": SAMPLE_FIELDS["email"], "type": "export"})  # fmt: skip
    request_id = asked.get_json()["id"]
    queue = officer.get("/admin/privacy-requests").get_data(as_text=True)
    assert f'<input type="hidden" name="request_id" value="{request_id}">' in queue  # its row
    page = submit(officer, "/admin/privacy-requests", "/admin/privacy-requests/extend",
                  request_id=request_id, reason="two related requests")  # fmt: skip
    assert f'name="request_id" value="{request_id}"' not in page  # extended once: no more
    assert f"Request {request_id} is now due on 2026-04-01." in page  # 1 Jan + 30 + 60 days
    page = submit(officer, "/admin/privacy-requests", "/admin/privacy-requests/extend",
                  request_id=request_id, reason="once more")  # fmt: skip
    assert "extended only once" in page


def test_admins_add_fields_and_purposes_and_change_retention_in_the_admin_ui(
    client: FlaskClient, make_user: Callable[..., str]
) -> None:
    make_user("root@example.com", roles=("admin",))
    assert log_in(client, "root@example.com", PASSWORD).status_code == 302
    page = submit(client, "/admin/fields", "/admin/fields/add", name="loyalty_tier",
                  type="string", category="profile", sensitivity="low",
                  max_length="20")  # fmt: skip
    assert "Field loyalty_tier added." in page
    assert "<td>loyalty_tier</td>" in page
    page = submit(client, "/admin/purposes", "/admin/purposes/add", code="research",
                  legal_basis="consent", description="Product research panels")  # fmt: skip
    assert "Purpose research added." in page
    page = submit(client, "/admin/purposes", "/admin/purposes/add", code="research",
                  legal_basis="consent")  # fmt: skip
    assert "Nothing was changed" in page  # the code is taken
    page = submit(client, "/admin/retention", "/admin/retention/change",
                  rule_id="ret_national_id_after_relationship", period_days="120",
                  enabled="y")  # fmt: skip
    assert "Rule ret_national_id_after_relationship: 120 days, enabled." in page
    assert "<td>120 days</td>" in page
    page = submit(client, "/admin/retention", "/admin/retention/change",
                  rule_id="ret_national_id_after_relationship", period_days="120")  # fmt: skip
    assert "120 days, disabled." in page  # an unticked box disables the rule


def test_officers_file_a_request_for_a_customer_who_called(
    app: Flask, officer: FlaskClient, customer_id: str
) -> None:
    page = submit(officer, "/admin/privacy-requests", "/admin/privacy-requests/file",
                  type="export", customer_id=customer_id, channel="phone",
                  identity_check="callback_to_number_on_file")  # fmt: skip
    filed = re.search(r"Request (prq_[0-9a-f]+) filed: completed", page)
    assert filed is not None
    assert filed[1] in page.split("</p>", 1)[1]  # and in the queue below
    outbox = Path(app.config["VAULT_SETTINGS"].instance_path) / "outbox"
    assert len(list(outbox.glob("*.eml"))) == 1  # the link, to the address on file


def test_the_queue_shows_the_systems_told_of_an_erasure_until_they_acknowledge(
    officer: FlaskClient, app: Flask, customer_id: str, make_token: Callable[..., str]
) -> None:
    api = app.test_client()
    admin = bearer(make_token(role="admin", name="ops"))
    filer = bearer(make_token(role="compliance_officer", name="desk"))
    crm = make_token(role="sales", name="crm-listener")
    with running_receiver() as receiver:
        subscribed = api.post("/api/v1/subscriptions", headers=admin, json={
            "name": "crm-hooks", "url": receiver.url, "client": "crm-listener",
            "events": ["customer.erased"]})  # fmt: skip
        assert subscribed.status_code == 201
        filed = api.post("/api/v1/privacy-requests", headers=filer, json={
            "type": "erasure", "customer_id": customer_id, "channel": "phone",
            "identity_check": "callback_to_number_on_file"})  # fmt: skip
        request_id = filed.get_json()["id"]
        with app.app_context():
            jobs.relay(app.config["VAULT_SETTINGS"]).run_once()
        assert len(receiver.received) == 1

    def queue(awaiting: str) -> str:
        page = officer.get(f"/admin/privacy-requests?awaiting_acknowledgement={awaiting}")
        assert page.status_code == 200
        return page.get_data(as_text=True)

    waiting = queue("yes")
    assert request_id in waiting
    assert "crm-hooks: delivered, not acknowledged" in waiting
    assert request_id not in queue("no")
    feed = api.get("/api/v1/events", headers=bearer(crm)).get_json()["items"]
    (erased,) = [e for e in feed if e["type"] == "customer.erased"]
    assert api.post(f"/api/v1/events/{erased['id']}/ack", headers=bearer(crm)).status_code == 200
    assert request_id not in queue("yes")
    assert "crm-hooks: acknowledged" in queue("no")


def test_a_bad_phone_number_is_named_beside_its_field(
    client: FlaskClient, make_user: Callable[..., str]
) -> None:
    make_user("support@example.com", roles=("support",))
    assert log_in(client, "support@example.com", PASSWORD).status_code == 302
    page = client.get("/admin/customers").get_data(as_text=True)
    form = {"csrf_token": form_token(page), "purpose": "support", "phone": "call me maybe"}
    answer = client.post("/admin/customers", data=form)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "Unprocessable" not in html
    assert 'aria-invalid="true"' in html
    error = re.search(r'<span class="error" id="phone-error">([^<]+)</span>', html)
    assert error is not None
    assert "phone" in error[1].lower() or "number" in error[1].lower()
    assert 'value="call me maybe"' in html  # nothing typed is lost


def test_a_requester_opens_the_customers_of_their_grant(
    app: Flask, make_user: Callable[..., str], sensitive_owner: str, customer_id: str
) -> None:
    make_user("analyst@example.com", roles=("staff",))
    staff, owner = app.test_client(), app.test_client()
    ask_in_ui(staff, "analyst@example.com", customer_id, "fraud case 9")
    listing = staff.get("/admin/access-requests").get_data(as_text=True)
    assert "Open the customers" not in listing  # not yet approved
    assert log_in(owner, "owner@example.com", PASSWORD).status_code == 302
    pending = owner.get("/admin/access-requests").get_data(as_text=True)
    approve = re.search(r'action="(/admin/access-requests/([^"/]+)/approve)"', pending)
    assert approve is not None
    assert owner.post(approve[1], data={"csrf_token": form_token(pending)}).status_code == 302
    listing = staff.get("/admin/access-requests").get_data(as_text=True)
    link = re.search(r'href="(/admin/access-requests/[^"]+/customers)">Open the customers', listing)
    assert link is not None
    page = staff.get(link[1])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert SAMPLE_FIELDS["national_id"] in html  # the granted category, in clear
    assert "<h3>Consents</h3>" in html
    # someone else's grant, or none, is not found
    assert owner.get(link[1]).status_code == 404
    assert staff.get("/admin/access-requests/acr_nothing/customers").status_code == 404
    with app.app_context():
        reads = db.session.scalars(
            sa.select(AuditEvent.reason).where(AuditEvent.action == "customer.read",
                                               AuditEvent.actor_kind == "user")
        ).all()  # fmt: skip
    assert approve[2] in reads
