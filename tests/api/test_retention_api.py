"""/api/v1/retention: rules (admins change, officers read), the sweep on demand, the end of a
customer relationship through PATCH /customers, and `vault retention` on the command line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import SAMPLE_FIELDS, bearer
from vault import runtime
from vault.audit.models import AuditEvent
from vault.auth.service import create_api_client
from vault.cli import main
from vault.clock import FixedClock
from vault.db import db
from vault.governance.models import RetentionRule
from vault.worker import job_lock

RULES = "/api/v1/retention/rules"


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token(role="admin", name="ops"))


def new_customer(client: FlaskClient, sales: dict[str, str], email: str) -> str:
    response = client.post(
        "/api/v1/customers",
        json={"fields": {**SAMPLE_FIELDS, "email": email}, "region": "EU"},
        headers=sales,
    )
    assert response.status_code == 201
    customer_id: str = response.get_json()["id"]
    return customer_id


def stored(app: Flask, customer_id: str) -> set[str]:
    with app.app_context():
        store = runtime.customer_store()
        return set(store.read_one(customer_id, store.catalogue.fields).values)


def test_admins_manage_rules_and_officers_read_them(
    client: FlaskClient, admin: dict[str, str], officer: dict[str, str], sales: dict[str, str]
) -> None:
    created = client.post(
        RULES,
        json={"category": "contact", "trigger": "created", "period_days": 400,
              "action": "erase_field", "description": "Contact data of prospects"},
        headers=admin,
    )  # fmt: skip
    assert created.status_code == 201
    rule = created.get_json()
    assert (rule["category"], rule["field"], rule["enabled"]) == ("contact", None, True)

    listed = client.get(RULES, headers=officer).get_json()["items"]
    assert rule["id"] in {r["id"] for r in listed}
    assert "ret_erase_inactive_customers" in {r["id"] for r in listed}
    assert client.get(f"{RULES}/{rule['id']}", headers=officer).get_json() == rule

    changed = client.patch(
        f"{RULES}/{rule['id']}", json={"period_days": 500, "enabled": False}, headers=admin
    ).get_json()
    assert (changed["period_days"], changed["enabled"]) == (500, False)
    assert client.patch(f"{RULES}/{rule['id']}", json={}, headers=admin).status_code == 422
    assert client.patch(
        f"{RULES}/{rule['id']}", json={"trigger": "last_activity"}, headers=admin
    ).status_code == 422  # fmt: skip

    assert client.post(RULES, json=rule, headers=officer).status_code in (403, 422)
    assert client.delete(f"{RULES}/{rule['id']}", headers=officer).status_code == 403
    assert client.get(RULES, headers=sales).status_code == 403
    assert client.delete(f"{RULES}/{rule['id']}", headers=admin).status_code == 204
    assert client.get(f"{RULES}/{rule['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({"trigger": "created", "period_days": 30, "action": "erase_field"}, "field"),
        ({"field": "shoe_size", "trigger": "created", "period_days": 30, "action": "erase_field"},
         "field"),
        ({"trigger": "created", "period_days": 30, "action": "anonymise", "category": "contact"},
         "action"),
        ({"trigger": "created", "period_days": "30", "action": "anonymise"}, "period_days"),
        ({"trigger": "created", "period_days": -5, "action": "anonymise"}, "period_days"),
        ({"trigger": "forever", "period_days": 30, "action": "anonymise"}, "trigger"),
        ({"trigger": "consent_withdrawn", "period_days": 30, "action": "anonymise"}, "purpose"),
        ({"trigger": "consent_withdrawn", "period_days": 30, "action": "anonymise",
          "purpose": "billing"}, "purpose"),
        ({"trigger": "created", "period_days": 30}, "action"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_a_422_naming_the_reason_and_nothing_is_added(
    client: FlaskClient, app: Flask, admin: dict[str, str], body: dict[str, object], bad: str
) -> None:
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(RetentionRule))
    response = client.post(RULES, json=body, headers=admin)
    assert response.status_code == 422
    assert bad in response.get_json()["errors"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RetentionRule)) == before


def test_the_relationship_end_is_recorded_through_patch(
    client: FlaskClient, sales: dict[str, str], clock: FixedClock
) -> None:
    customer_id = new_customer(client, sales, "former@example.org")
    ended = (clock.now() - dt.timedelta(days=3)).isoformat()
    response = client.patch(
        f"/api/v1/customers/{customer_id}", json={"relationship_ended_at": ended}, headers=sales
    )
    assert response.status_code == 200
    assert response.get_json()["relationship_ended_at"] == ended
    shown = client.get(f"/api/v1/customers/{customer_id}", headers=sales).get_json()
    assert shown["relationship_ended_at"] == ended
    future = (clock.now() + dt.timedelta(days=3)).isoformat()
    refused = client.patch(
        f"/api/v1/customers/{customer_id}", json={"relationship_ended_at": future}, headers=sales
    )
    assert refused.status_code == 422
    assert "relationship_ended_at" in refused.get_json()["errors"]
    assert client.patch(
        f"/api/v1/customers/{customer_id}", json={}, headers=sales
    ).status_code == 422  # fmt: skip
    resumed = client.patch(
        f"/api/v1/customers/{customer_id}", json={"relationship_ended_at": None}, headers=sales
    )
    assert resumed.get_json()["relationship_ended_at"] is None


def test_only_a_role_with_the_relationship_permission_ends_a_relationship(
    client: FlaskClient, app: Flask, sales: dict[str, str], make_token: Callable[..., str],
    clock: FixedClock,
) -> None:  # fmt: skip
    customer_id = new_customer(client, sales, "supported@example.org")
    support = bearer(make_token(role="support", name="desk"), **{"X-Purpose": "support"})
    path = f"/api/v1/customers/{customer_id}"
    ended = {"relationship_ended_at": (clock.now() - dt.timedelta(days=1)).isoformat()}
    refused = client.patch(path, json=ended, headers=support)
    assert refused.status_code == 403
    assert client.patch(path, json={"relationship_ended_at": None}, headers=support).status_code \
        == 403  # fmt: skip
    # support still corrects contact data, which its role may write
    corrected = client.patch(path, json={"fields": {"phone": "+44 20 7946 0000"}}, headers=support)
    assert corrected.status_code == 200
    assert client.get(path, headers=sales).get_json()["relationship_ended_at"] is None
    assert client.patch(path, json=ended, headers=sales).status_code == 200


def test_a_relationship_end_is_dated_within_the_backdating_window(
    client: FlaskClient, app: Flask, sales: dict[str, str], clock: FixedClock
) -> None:
    customer_id = new_customer(client, sales, "backdated@example.org")
    path = f"/api/v1/customers/{customer_id}"

    def end(**delta: float) -> tuple[int, dict[str, object]]:
        when = (clock.now() + dt.timedelta(**delta)).isoformat()
        response = client.patch(path, json={"relationship_ended_at": when}, headers=sales)
        body: dict[str, object] = response.get_json()
        return response.status_code, body

    for delta in ({"days": -31}, {"days": -400}, {"minutes": 10}):
        status, body = end(**delta)
        assert status == 422, delta
        errors = body["errors"]
        assert isinstance(errors, Iterable)
        assert list(errors) == ["relationship_ended_at"]
    assert client.get(path, headers=sales).get_json()["relationship_ended_at"] is None
    with app.app_context():
        refusals = sa.select(AuditEvent).where(
            AuditEvent.outcome == "denied", AuditEvent.action == "customer.update"
        )
        denied = db.session.scalars(refusals).all()
    assert [(e.customer_ids, e.reason) for e in denied] == [
        (customer_id, "relationship_ended_at:out_of_range")
    ] * 3
    assert end(days=-29)[0] == 200
    # a client clock a little ahead is taken as now
    status, body = end(minutes=2)
    assert status == 200
    assert body["relationship_ended_at"] == clock.now().isoformat()


def test_the_backdating_window_is_configured(
    make_app: Callable[..., Flask], make_token: Callable[..., str], clock: FixedClock
) -> None:
    vault = make_app(relationship_backdate_days=120)
    client = vault.test_client()
    with vault.app_context(), db.transaction() as session:
        _client, token = create_api_client(
            session, name="crm", role="sales", purposes=[], expires_days=None, regions=[],
            now=clock.now(),
        )  # fmt: skip
    sales = bearer(token, **{"X-Purpose": "sales"})
    customer_id = new_customer(client, sales, "window@example.org")
    path = f"/api/v1/customers/{customer_id}"
    for days, status in ((-121, 422), (-119, 200)):
        when = (clock.now() + dt.timedelta(days=days)).isoformat()
        response = client.patch(path, json={"relationship_ended_at": when}, headers=sales)
        assert response.status_code == status, days


def test_the_sweep_on_demand_reports_and_erases_what_is_due(
    client: FlaskClient,
    app: Flask,
    admin: dict[str, str],
    officer: dict[str, str],
    sales: dict[str, str],
    clock: FixedClock,
) -> None:
    customer_id = new_customer(client, sales, "leaving@example.org")
    staying = new_customer(client, sales, "staying@example.org")
    ended = {"relationship_ended_at": clock.now().isoformat()}
    client.patch(f"/api/v1/customers/{customer_id}", json=ended, headers=sales)
    clock.advance(days=100)

    dry = client.post("/api/v1/retention/run", json={"dry_run": True}, headers=officer)
    assert dry.status_code == 200
    report = dry.get_json()
    assert (report["dry_run"], report["erased"], report["held"]) == (True, 1, 0)
    by_rule = {r["rule_id"]: r for r in report["rules"]}
    assert by_rule["ret_national_id_after_relationship"]["fields"] == ["national_id"]
    assert by_rule["ret_national_id_after_relationship"]["erased"] == 1
    assert "national_id" in stored(app, customer_id)  # a dry run changes nothing

    real = {"dry_run": False}
    assert client.post("/api/v1/retention/run", json=real, headers=officer).status_code == 403
    assert client.post("/api/v1/retention/run", json=real, headers=sales).status_code == 403
    done = client.post("/api/v1/retention/run", json=real, headers=admin).get_json()
    assert (done["dry_run"], done["erased"]) == (False, 1)
    assert stored(app, customer_id) == set(SAMPLE_FIELDS) - {"national_id"}
    assert stored(app, staying) == set(SAMPLE_FIELDS)
    again = client.post("/api/v1/retention/run", json=real, headers=admin).get_json()
    assert again["erased"] == 0  # idempotent

    with app.app_context():
        events = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.customer_ids, AuditEvent.field_names,
                      AuditEvent.reason, AuditEvent.actor_kind)
            .where(AuditEvent.action.like("retention.%"))
            .order_by(AuditEvent.id)
        ).all()  # fmt: skip
    assert [tuple(e) for e in events] == [
        ("retention.run", "", "", "dry_run", "client"),
        ("retention.post", "", "", "forbidden", "client"),  # the refused attempts
        ("retention.post", "", "", "forbidden", "client"),
        ("retention.erase_field", customer_id, "national_id",
         "ret_national_id_after_relationship", "client"),
        ("retention.run", "", "", "applied", "client"),
        ("retention.run", "", "", "applied", "client"),
    ]  # fmt: skip
    assert staying not in " ".join(e.customer_ids for e in events)


@pytest.mark.parametrize("body", [None, {}, {"batch_size": 100}])
def test_a_sweep_request_without_an_explicit_false_only_reports(
    client: FlaskClient,
    app: Flask,
    admin: dict[str, str],
    sales: dict[str, str],
    clock: FixedClock,
    body: dict[str, object] | None,
) -> None:
    customer_id = new_customer(client, sales, "leaving@example.org")
    ended = {"relationship_ended_at": clock.now().isoformat()}
    client.patch(f"/api/v1/customers/{customer_id}", json=ended, headers=sales)
    clock.advance(days=100)

    answer = client.post("/api/v1/retention/run", json=body, headers=admin)
    assert answer.status_code == 200
    assert (answer.get_json()["dry_run"], answer.get_json()["erased"]) == (True, 1)
    assert stored(app, customer_id) == set(SAMPLE_FIELDS)  # nothing erased
    with app.app_context():
        reasons = db.session.scalars(
            sa.select(AuditEvent.reason).where(AuditEvent.action == "retention.run")
        ).all()
    assert reasons == ["dry_run"]


@pytest.mark.parametrize("body", [{"batch_size": 0}, {"batch_size": 10_001},
                                  {"dry_run": "maybe"}, {"rules": ["x"]}])  # fmt: skip
def test_a_bad_sweep_request_is_a_422_and_runs_nothing(
    client: FlaskClient, app: Flask, admin: dict[str, str], body: dict[str, object]
) -> None:
    refused = client.post("/api/v1/retention/run", json=body, headers=admin)
    assert refused.status_code == 422
    with app.app_context():
        runs = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "retention.run")
        )
    assert runs == 0


def test_a_second_sweep_is_refused_while_one_runs(
    client: FlaskClient, app: Flask, admin: dict[str, str]
) -> None:
    with app.app_context(), job_lock(db.engine, "retention.sweep") as taken:
        assert taken
        busy = client.post("/api/v1/retention/run", json={"dry_run": True}, headers=admin)
    assert busy.status_code == 409
    assert busy.get_json()["code"] == "sweep_running"
    assert (
        client.post("/api/v1/retention/run", json={"dry_run": True}, headers=admin).status_code
        == 200
    )


def test_vault_retention_commands(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app()
    settings = app.config["VAULT_SETTINGS"]
    env = {"VAULT_DATABASE_URL": settings.database_url,
           "VAULT_INSTANCE_PATH": str(settings.instance_path),
           "VAULT_AUDIT_ANCHOR": settings.audit_anchor}  # fmt: skip
    runner = CliRunner(env=env)
    listed = runner.invoke(main, ["retention", "rules"], catch_exceptions=False)
    assert listed.exit_code == 0
    assert "ret_erase_inactive_customers" in listed.stdout
    assert "1095 days after last_activity" in listed.stdout

    dry = runner.invoke(main, ["retention", "run", "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0
    assert "ret_erase_inactive_customers: erase_customer (whole customer): 0 due" in dry.stdout
    assert "Dry run: 0 erasures due, 0 held back by legal holds; nothing changed." in dry.stdout
    real = runner.invoke(main, ["retention", "run"], catch_exceptions=False)
    assert real.exit_code == 0
    assert "Applied 0 erasures; 0 held back by legal holds." in real.stdout

    with app.app_context(), job_lock(db.engine, "retention.sweep"):
        busy = runner.invoke(main, ["retention", "run"])
    assert busy.exit_code == 1
    assert "another retention sweep is running" in busy.output
