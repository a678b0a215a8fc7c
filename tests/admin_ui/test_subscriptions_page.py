"""The admin UI's subscriptions: admins list them, make one (its secret shown once, in the
answer to the form), pause, resume, replay and delete them where their row is and read their
delivery log; bad input is shown next to its field with nothing lost and nothing made; every
form is CSRF-checked and every change audited; other roles neither see the page in the menu
nor reach it; and no page shows a customer's value."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from admin_ui import subscriptions as subscriptions_page
from tests.helpers import PASSWORD, SAMPLE_FIELDS, bearer, events, form_token, log_in
from tests.support.receiver import Receiver, running_receiver
from vault import jobs, services
from vault.auth.clients import client_id_for_name
from vault.auth.models import ApiClient
from vault.auth.service import revoke_api_client
from vault.clock import FixedClock
from vault.db import db
from vault.events.models import Subscription
from vault.events.subscriptions import open_secret

PAGE = "/admin/subscriptions"
NEW = f"{PAGE}/new"
ADMIN = "admin@example.com"


@pytest.fixture
def admin(client: FlaskClient, make_user: Callable[..., str]) -> FlaskClient:
    make_user(ADMIN, roles=("admin",))
    assert log_in(client, ADMIN, PASSWORD).status_code == 302
    return client


@pytest.fixture
def sales(app: Flask, make_token: Callable[..., str]) -> dict[str, str]:
    """The headers of the sales system ``crm``, the client the subscriptions are bound to."""
    return bearer(make_token(role="sales", name="crm"), **{"X-Purpose": "sales"})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def wanted(**changes: Any) -> dict[str, Any]:
    return {"name": "crm-hooks", "url": "https://crm.example.org/hooks", "client": "crm",
            "events": ["customer.created", "customer.erased"], **changes}  # fmt: skip


def create(admin: FlaskClient, **changes: Any) -> Any:
    form = {"csrf_token": form_token(admin.get(NEW).get_data(as_text=True)), **wanted(**changes)}
    return admin.post(NEW, data=form)


def stored(app: Flask) -> list[Subscription]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Subscription)))


def text(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_an_admin_makes_a_subscription_and_sees_its_secret_once(
    app: Flask, admin: FlaskClient, sales: dict[str, str], make_token: Callable[..., str],
    clock: FixedClock,
) -> None:  # fmt: skip
    make_token(role="support", name="old-helpdesk")
    make_token(role="support", name="short-lived", expires_days=1)
    with app.app_context(), db.transaction() as session:
        revoke_api_client(session, client_id_for_name(session, "old-helpdesk"), now=clock.now())
        expiring = session.get(ApiClient, client_id_for_name(session, "short-lived"))
        assert expiring is not None
        expiring.expires_at = clock.now() - dt.timedelta(minutes=1)
    assert f'href="{PAGE}">Subscriptions</a>' in text(admin, "/admin/")  # in the menu
    assert "No subscriptions yet" in text(admin, PAGE)
    form = text(admin, NEW)
    assert '<option value="crm">crm</option>' in form
    assert "old-helpdesk" not in form  # a revoked client is no choice
    assert "short-lived" not in form  # nor an expired one

    made = create(admin)
    assert made.status_code == 201
    page = made.get_data(as_text=True)
    found = re.search(r'<code id="secret">(whsec_[A-Za-z0-9+/=]+)</code>', page)
    assert found is not None
    assert "shown this once" in page
    (subscription,) = stored(app)
    with app.app_context():
        assert open_secret(services.webhook_secrets(), subscription) == found[1]
    assert subscription.event_types == "customer.created,customer.erased"
    for path in (PAGE, f"{PAGE}/{subscription.id}/deliveries", f"{PAGE}/{subscription.id}/replay",
                 f"{PAGE}/{subscription.id}/delete", NEW):  # fmt: skip
        assert found[1] not in text(admin, path), path
    listing = text(admin, PAGE)
    assert "crm-hooks" in listing
    assert "https://crm.example.org/hooks" in listing
    assert '<td class="status active" data-label="status">active</td>' in listing
    assert [e.actor_kind for e in events(app, "subscription.create")] == ["user"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"url": "ftp://crm.example.org/hooks"}, "url", "Must be an http or https URL"),
        ({"url": "http://169.254.169.254/latest"}, "url", "link-local or cloud metadata"),
        ({"url": ""}, "url", "Give the receiver&#39;s URL."),
        ({"name": "  "}, "name", "Give the subscription a name."),
        ({"client": "no-such-client"}, "client", "No active API client has this name."),
        ({"client": ""}, "client", "Choose an API client."),
        ({"events": []}, "events", "Choose one or more events."),
        ({"events": ["customer.exploded"]}, "events", "Give one or more of customer.created"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_made(
    app: Flask, admin: FlaskClient, sales: dict[str, str], changes: dict[str, Any], field: str,
    message: str,
) -> None:  # fmt: skip
    refused = create(admin, **changes)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    note = re.search(rf'id="{field}-note">(.*?)</p>', page, re.S) if field != "events" else None
    assert message in (note[1] if note else page)
    kept = wanted(**changes)
    if field != "name":
        assert f'value="{kept["name"]}"' in page  # nothing typed is lost
    if field != "events":
        assert re.search(r'<input checked [^>]*value="customer.erased"', page)
    assert stored(app) == []
    assert events(app, "subscription.create") == []
    assert [e.outcome for e in events(app, "admin.new_subscription")] == ["denied"]


def test_every_problem_is_shown_at_once(
    app: Flask, admin: FlaskClient, sales: dict[str, str]
) -> None:
    refused = create(admin, url="ftp://crm.example.org", client="", events=[])
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    notes = dict(re.findall(r'id="(\w+)-note"><span class="error">([^<]+)</span>', page))
    assert notes == {"url": "Must be an http or https URL with a host.",
                     "client": "Choose an API client."}  # fmt: skip
    assert "Choose one or more events." in page
    assert 'value="crm-hooks"' in page
    assert stored(app) == []


def test_a_name_taken_or_a_form_without_its_token_makes_nothing(
    app: Flask, admin: FlaskClient, sales: dict[str, str]
) -> None:
    assert create(admin).status_code == 201
    again = create(admin, url="https://other.example.org/hooks")
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "Another subscription has this name" in page
    assert 'value="https://other.example.org/hooks"' in page
    forged = admin.post(NEW, data=wanted(name="forged"))
    assert forged.status_code == 400
    assert "expired" in forged.get_data(as_text=True)
    assert [s.name for s in stored(app)] == ["crm-hooks"]
    reasons = [e.reason for e in events(app, "admin.new_subscription")]
    assert reasons == ["conflict", "csrf_failed"]


def relay(app: Flask) -> None:
    with app.app_context():
        jobs.relay(app.config["VAULT_SETTINGS"]).run_once()


def made(app: Flask, admin: FlaskClient, url: str) -> str:
    assert (
        create(admin, url=url, events=["customer.created", "customer.updated"]).status_code == 201
    )
    return stored(app)[0].id


def act(admin: FlaskClient, verb: str, subscription_id: str, **extra: str) -> str:
    """Post a row's action with the list's token; the page it leads back to."""
    token = form_token(text(admin, PAGE))
    answer = admin.post(
        f"{PAGE}/{verb}", data={"csrf_token": token, "subscription_id": subscription_id, **extra}
    )
    assert answer.status_code == 302
    return text(admin, answer.headers["Location"])


def test_rows_are_paused_resumed_replayed_and_deleted_and_their_deliveries_paged(
    app: Flask, admin: FlaskClient, client: FlaskClient, sales: dict[str, str],
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    subscription_id = made(app, admin, receiver.url)
    api = app.test_client()
    customers = []
    for n in range(3):
        body = {"fields": {**SAMPLE_FIELDS, "email": f"c{n}@example.org"}, "region": "EU"}
        created = api.post("/api/v1/customers", json=body, headers=sales)
        assert created.status_code == 201
        customers.append(created.get_json()["id"])
    receiver.answers = [500]
    relay(app)
    listing = text(admin, PAGE)
    row = listing[listing.index(f'<tr id="{subscription_id}">') :]
    # one delivery waits to be retried; the others went through
    assert re.search(r'"waiting">1</td>\s*<td class="number" data-label="failed">0</td>', row)
    assert "never" not in row

    monkeypatch.setattr(subscriptions_page, "DELIVERIES_PAGE", 2)
    log = text(admin, f"{PAGE}/{subscription_id}/deliveries")
    shown = re.findall(r"<code>(cus_[^<]+)</code>", log)
    assert len(shown) == 2
    older = re.search(r'href="([^"]+before=\d+)">Older deliveries', log)
    assert older is not None
    rest = text(admin, older[1].replace("&amp;", "&"))
    assert "Newest" in rest
    assert "500 http_error" in log + rest  # the receiver's answer to the one that waits
    assert set(shown) | set(re.findall(r"<code>(cus_[^<]+)</code>", rest)) == set(customers)

    paused = act(admin, "pause", subscription_id)
    assert "crm-hooks paused" in paused
    assert '<td class="status paused" data-label="status">paused</td>' in paused
    assert ">Resume</button>" in paused
    forged = admin.post(f"{PAGE}/resume", data={"subscription_id": subscription_id})
    assert forged.status_code == 302
    assert "nothing was changed" in text(admin, PAGE)
    assert "resumed" in act(admin, "resume", subscription_id)
    assert "no such subscription" in act(admin, "pause", "sub_nothing")

    replay = f"{PAGE}/{subscription_id}/replay"
    page = text(admin, replay)
    assert 'type="datetime-local"' in page
    bad = admin.post(replay, data={"csrf_token": form_token(page), "since": "last tuesday"})
    assert bad.status_code == 422
    assert "Give the date and the time (UTC)" in bad.get_data(as_text=True)
    assert 'value="last tuesday"' in bad.get_data(as_text=True)
    done = admin.post(replay, data={"csrf_token": form_token(page), "since": "2020-01-01T00:00"})
    assert done.status_code == 302
    assert "3 deliveries queued again" in text(admin, PAGE)

    delete = f"{PAGE}/{subscription_id}/delete"
    confirm = text(admin, delete)
    assert "cannot be undone" in confirm
    assert admin.post(delete).status_code == 400
    assert len(stored(app)) == 1
    gone = admin.post(delete, data={"csrf_token": form_token(confirm)})
    assert gone.status_code == 302
    assert "were deleted" in text(admin, PAGE)
    assert stored(app) == []
    for path in (delete, replay, f"{PAGE}/{subscription_id}/deliveries"):
        assert admin.get(path).status_code == 404
    actions = [e.action for e in events(app, actor_kind="user", outcome="allowed")
               if e.action.startswith("subscription.")]  # fmt: skip
    assert actions == ["subscription.create", "subscription.update", "subscription.update",
                       "subscription.replay", "subscription.delete"]  # fmt: skip

    values = [v for v in SAMPLE_FIELDS.values() if isinstance(v, str)]
    audit = repr([(e.action, e.reason, e.customer_ids, e.field_names) for e in events(app)])
    for html in (listing, log, rest, paused, page, confirm):
        for value in values:
            assert value not in html
    for value in values:
        assert value not in audit


@pytest.mark.parametrize("roles", [("compliance_officer",), ("sales",), ("data_owner",)])
def test_only_admins_see_and_reach_the_pages(
    app: Flask, client: FlaskClient, make_user: Callable[..., str], roles: tuple[str, ...]
) -> None:
    assert client.get(PAGE).status_code == 302  # to the log-in page
    make_user("someone@example.com", roles=roles)
    assert log_in(client, "someone@example.com", PASSWORD).status_code == 302
    assert "Subscriptions" not in text(client, "/admin/")
    token = form_token(text(client, "/admin/access-requests"))
    for path in (PAGE, NEW, f"{PAGE}/sub_x/deliveries", f"{PAGE}/sub_x/replay",
                 f"{PAGE}/sub_x/delete"):  # fmt: skip
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "text/html" in refused.content_type
    for path in (f"{PAGE}/pause", f"{PAGE}/resume", NEW, f"{PAGE}/sub_x/delete"):
        posted = client.post(path, data={"csrf_token": token, "subscription_id": "sub_x"})
        assert posted.status_code == 403, path
