"""Data ownership and access requests through HTTP: owners approve, the grant shows its
fields to the requester only, and stops working once expired, revoked or denied."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.helpers import SAMPLE_FIELDS, Staff, bearer, csrf_token
from vault.audit.models import AuditEvent
from vault.audit.service import SYSTEM
from vault.clock import FixedClock
from vault.db import db
from vault.governance.access_requests import record_expired_grants
from vault.governance.models import AccessRequest


@pytest.fixture
def world(
    app: Flask, make_user: Callable[..., str], make_token: Callable[..., str]
) -> dict[str, Any]:
    ids = {
        "contact_owner": make_user("contact.owner@example.com", roles=("data_owner",)),
        "sensitive_owner": make_user("sensitive.owner@example.com", roles=("data_owner",)),
        "staff": make_user("analyst@example.com", roles=("staff",)),
        "officer": make_user("officer@example.com", roles=("compliance_officer",)),
    }
    admin = bearer(make_token(role="admin", name="ops"))
    client = app.test_client()
    for category, owner in (("contact", "contact_owner"), ("sensitive", "sensitive_owner")):
        response = client.put(
            f"/api/v1/ownership/{category}", json={"user_id": ids[owner]}, headers=admin
        )
        assert response.status_code == 200, response.get_json()
    sales = bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})
    created = client.post(
        "/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"}, headers=sales
    )
    return {
        "ids": ids,
        "customer": created.get_json()["id"],
        "staff": Staff(app, "analyst@example.com"),
        "contact_owner": Staff(app, "contact.owner@example.com"),
        "sensitive_owner": Staff(app, "sensitive.owner@example.com"),
        "officer": Staff(app, "officer@example.com"),
        "admin": admin,
    }


def ask(world: dict[str, Any], asker: str = "staff", **changes: Any) -> Any:
    body = {
        "purpose": "support",
        "fields": ["national_id"],
        "categories": ["contact"],
        "customer_ids": [world["customer"]],
        "justification": "Identity check for fraud case 1182",
        "duration_days": 7,
        **changes,
    }
    return world[asker].post("/access-requests", body)


def approved(world: dict[str, Any]) -> str:
    request_id = str(ask(world).get_json()["id"])
    assert world["contact_owner"].post(f"/access-requests/{request_id}/approve").status_code == 200
    assert (
        world["sensitive_owner"].post(f"/access-requests/{request_id}/approve").status_code == 200
    )
    return request_id


def test_owners_approve_and_the_grant_shows_its_fields(world: dict[str, Any], app: Flask) -> None:
    response = ask(world)
    assert response.status_code == 201, response.get_json()
    request = response.get_json()
    assert request["status"] == "pending"
    assert request["categories"] == ["contact", "sensitive"]
    staff = world["staff"]
    grant_path = f"/access-requests/{request['id']}/customers"
    assert staff.get(grant_path, "support").status_code == 403  # no purpose before approval
    half = world["contact_owner"].post(f"/access-requests/{request['id']}/approve").get_json()
    assert half["status"] == "pending"
    full = world["sensitive_owner"].post(f"/access-requests/{request['id']}/approve").get_json()
    assert full["status"] == "approved"
    assert full["expires_at"] is not None
    page = staff.get(grant_path, "support")
    assert page.status_code == 200, page.get_json()
    (view,) = page.get_json()["items"]
    assert view["fields"]["national_id"] == {
        "value": SAMPLE_FIELDS["national_id"],
        "transform": "none",
    }
    assert view["fields"]["email"]["value"] == "Jeanne.Dupont@example.org"
    assert "birth_date" in view["withheld"]
    with app.app_context():
        (event,) = db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.reason == request["id"], AuditEvent.action == "customer.read"
            )
        )
    assert event.purpose == "support"
    assert world["customer"] in event.customer_ids
    assert "national_id" in event.field_names.split()
    # the requester's plain customer routes are not widened: the grant's purpose is not theirs
    refused = staff.get(f"/customers/{world['customer']}", "support")
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "purpose_not_allowed"


def test_a_grant_purpose_is_stated_on_the_grant_route_only(world: dict[str, Any]) -> None:
    request_id = approved(world)
    staff = world["staff"]
    for path in ("/customers", f"/customers/{world['customer']}"):
        response = staff.get(path, "support")
        assert response.status_code == 403, path
        assert response.get_json()["code"] == "purpose_not_allowed"
        assert "'support'" in response.get_json()["detail"]
    assert staff.get("/me").get_json()["purposes"] == []
    page = staff.get(f"/access-requests/{request_id}/customers", "support")
    assert page.status_code == 200
    assert [v["id"] for v in page.get_json()["items"]] == [world["customer"]]


def test_the_admin_customers_page_offers_no_granted_purpose(world: dict[str, Any]) -> None:
    approved(world)
    staff = world["staff"]
    page = staff.client.get("/admin/customers").get_data(as_text=True)
    assert 'value="support"' not in page
    assert "Your roles let you state no purpose" in page
    form = {"purpose": "support", "customer_id": world["customer"],
            "csrf_token": csrf_token(staff.client, "/admin/")}  # fmt: skip
    refused = staff.client.post("/admin/customers", data=form)
    assert refused.status_code == 400
    assert "Dupont" not in refused.get_data(as_text=True)


def test_an_expired_grant_stops_working_on_the_next_request(
    world: dict[str, Any], app: Flask, clock: FixedClock
) -> None:
    request_id = approved(world)
    path = f"/access-requests/{request_id}/customers"
    assert world["staff"].get(path, "support").status_code == 200
    clock.advance(days=7, seconds=1)
    # the session of a week ago has ended; the requester logs in again
    world["staff"] = Staff(app, "analyst@example.com")
    assert world["staff"].get(path, "support").status_code == 403
    listed = world["staff"].get("/access-requests").get_json()["items"]
    assert [r["status"] for r in listed] == ["expired"]


def test_a_revoked_or_denied_grant_stops_working(world: dict[str, Any]) -> None:
    request_id = approved(world)
    path = f"/access-requests/{request_id}/customers"
    assert world["staff"].get(path, "support").status_code == 200
    assert (
        world["sensitive_owner"].post(f"/access-requests/{request_id}/revoke").get_json()["status"]
        == "revoked"
    )
    assert world["staff"].get(path, "support").status_code == 403
    denied_id = ask(world).get_json()["id"]
    assert (
        world["contact_owner"].post(f"/access-requests/{denied_id}/deny").get_json()["status"]
        == "denied"
    )
    assert world["sensitive_owner"].post(f"/access-requests/{denied_id}/approve").status_code == 422
    assert (
        world["staff"].get(f"/access-requests/{denied_id}/customers", "support").status_code == 403
    )


def test_only_the_owners_of_covered_categories_decide(world: dict[str, Any]) -> None:
    request_id = ask(world, fields=[], categories=["contact"]).get_json()["id"]
    assert world["staff"].post(f"/access-requests/{request_id}/approve").status_code == 403
    assert (
        world["sensitive_owner"].post(f"/access-requests/{request_id}/approve").status_code == 403
    )
    assert (
        world["contact_owner"].post(f"/access-requests/{request_id}/approve").get_json()["status"]
        == "approved"
    )


def test_nobody_approves_or_denies_their_own_request(world: dict[str, Any], app: Flask) -> None:
    # the owner of "contact" asks for contact and sensitive data
    asked = ask(world, asker="sensitive_owner", categories=["contact"], fields=[])
    request_id = asked.get_json()["id"]
    owner = world["contact_owner"]
    own = ask(world, asker="contact_owner")
    assert own.status_code == 201, own.get_json()
    own_id = own.get_json()["id"]
    for verb in ("approve", "deny"):
        refused = owner.post(f"/access-requests/{own_id}/{verb}")
        assert refused.status_code == 403
        assert refused.get_json()["code"] == "self_approval"
    listed = {r["id"]: r for r in owner.get("/access-requests").get_json()["items"]}
    assert listed[own_id]["status"] == "pending"
    assert listed[own_id]["approvals"] == {}
    assert owner.get(f"/access-requests/{own_id}/customers", "support").status_code == 403
    with app.app_context():
        reasons = db.session.scalars(
            sa.select(AuditEvent.reason).where(
                AuditEvent.outcome == "denied",
                AuditEvent.actor_id == world["ids"]["contact_owner"],
                AuditEvent.reason.like("self_approval%"),
            )
        ).all()
    assert reasons == [f"self_approval:{own_id}"] * 2  # the approval and the denial
    # the other request, which the contact owner did not make, is theirs to decide
    assert owner.post(f"/access-requests/{request_id}/approve").get_json()["status"] == "approved"


def test_a_compliance_officer_decides_the_categories_the_requester_owns(
    world: dict[str, Any],
) -> None:
    officer, owner = world["officer"], world["contact_owner"]
    own_id = ask(world, asker="contact_owner").get_json()["id"]  # contact (own) and sensitive
    half = world["sensitive_owner"].post(f"/access-requests/{own_id}/approve").get_json()
    assert (half["status"], half["approvals"]) == (
        "pending", {"sensitive": world["ids"]["sensitive_owner"]},
    )  # fmt: skip
    done = officer.post(f"/access-requests/{own_id}/approve").get_json()
    assert done["status"] == "approved"
    assert done["approvals"]["contact"] == world["ids"]["officer"]
    view = owner.get(f"/access-requests/{own_id}/customers", "support")
    assert view.status_code == 200, view.get_json()
    # an officer does not decide categories whose owner is someone else than the requester
    other_id = ask(world).get_json()["id"]
    refused = officer.post(f"/access-requests/{other_id}/approve")
    assert (refused.status_code, refused.get_json()["code"]) == (403, "forbidden")
    # and an officer's own request goes to the owners, never to the officer
    mine = ask(world, asker="officer").get_json()["id"]
    assert officer.post(f"/access-requests/{mine}/deny").get_json()["code"] == "self_approval"
    denied = owner.post(f"/access-requests/{mine}/deny").get_json()
    assert denied["status"] == "denied"


def test_an_owner_sees_only_requests_for_whole_categories_it_owns(
    world: dict[str, Any], app: Flask, make_user: Callable[..., str]
) -> None:
    client = app.test_client()
    wildcard_owner = make_user("wildcard.owner@example.com", roles=("data_owner",))
    for name, category, owner in (
        ("loyalty_card", "contact_ext", world["ids"]["sensitive_owner"]),
        ("locker_code", "con_act", wildcard_owner),  # "_" would match any one character
    ):
        spec = {"name": name, "type": "string", "category": category, "sensitivity": "low"}
        added = client.post("/api/v1/fields", headers=world["admin"], json=spec)
        assert added.status_code == 201, added.get_json()
        assigned = client.put(
            f"/api/v1/ownership/{category}", json={"user_id": owner}, headers=world["admin"]
        )
        assert assigned.status_code == 200, assigned.get_json()
    extended = ask(world, fields=[], categories=["contact_ext"]).get_json()["id"]
    contact = ask(world, fields=[], categories=["contact"]).get_json()["id"]

    def listed(who: Staff) -> set[str]:
        return {r["id"] for r in who.get("/access-requests").get_json()["items"]}

    assert listed(world["contact_owner"]) == {contact}
    assert listed(world["sensitive_owner"]) == {extended}
    wildcard = Staff(app, "wildcard.owner@example.com")
    assert listed(wildcard) == set()
    assert listed(world["staff"]) == {contact, extended}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fields": [], "categories": []}, "fields"),
        ({"duration_days": 0}, "duration_days"),
        ({"duration_days": 36500}, "duration_days"),
        ({"fields": ["shoe_size"]}, "fields"),
        ({"categories": ["profile"], "fields": []}, "categories"),
        ({"region": "EU"}, "customers"),
        ({"customer_ids": []}, "customers"),
        ({"justification": "because"}, "justification"),
        ({"purpose": "gossip"}, "purpose"),
    ],
)
def test_bad_requests_are_422_and_record_nothing(
    world: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    response = ask(world, **changes)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert world["staff"].get("/access-requests").get_json()["items"] == []


def test_only_admins_assign_owners(
    world: dict[str, Any], app: Flask, make_token: Callable[..., str]
) -> None:
    client = app.test_client()
    sales = bearer(make_token(role="sales"))
    response = client.put(
        "/api/v1/ownership/profile", json={"user_id": world["ids"]["staff"]}, headers=sales
    )
    assert response.status_code == 403
    not_owner = client.put(
        "/api/v1/ownership/profile", json={"user_id": world["ids"]["staff"]}, headers=world["admin"]
    )
    assert not_owner.status_code == 422
    owners = client.get("/api/v1/ownership", headers=world["admin"]).get_json()["owners"]
    assert owners == {
        "contact": world["ids"]["contact_owner"],
        "sensitive": world["ids"]["sensitive_owner"],
    }


def test_the_worker_records_each_expired_grant_once(
    app: Flask, make_user: Callable[..., str], clock: FixedClock
) -> None:
    requester = make_user("asker@example.com", roles=("staff",))
    with app.app_context(), db.transaction() as session:
        for name, days in (("short", 1), ("long", 30)):
            session.add(
                AccessRequest(
                    id=f"acr_{name}", requester_id=requester, purpose="support",
                    fields="phone", categories="contact", customer_ids="cus_a cus_b",
                    justification="Ticket 4711", duration_days=days, status="approved",
                    approvals={"contact": "usr_owner"}, created_at=clock.now(),
                    decided_at=clock.now(), expires_at=clock.now() + dt.timedelta(days=days),
                )
            )  # fmt: skip
    clock.advance(days=2)
    with app.app_context(), db.transaction() as session:
        assert record_expired_grants(session, SYSTEM, now=clock.now()) == ["acr_short"]
        assert record_expired_grants(session, SYSTEM, now=clock.now()) == []
        events = session.execute(
            sa.select(AuditEvent.action, AuditEvent.reason, AuditEvent.customer_ids)
            .where(AuditEvent.action == "access_request.expire")
        ).all()  # fmt: skip
    assert [tuple(e) for e in events] == [("access_request.expire", "acr_short", "cus_a cus_b")]
    clock.advance(days=30)
    with app.app_context(), db.transaction() as session:
        assert record_expired_grants(session, SYSTEM, now=clock.now()) == ["acr_long"]
