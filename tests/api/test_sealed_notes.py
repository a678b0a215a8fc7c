"""Staff's free text (an access request's justification, a legal hold's reasons) is sealed at
rest and shown in clear to its readers; a hold's reasons go with its customer's erasure; rows
written before notes were sealed stay readable and `vault init` seals them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.helpers import SAMPLE_FIELDS, Staff, bearer
from vault.auth.service import create_api_client, create_user
from vault.bootstrap import seed_defaults
from vault.cli import main
from vault.crypto.keys import FileKeyProvider
from vault.db import create_db_engine, db
from vault.governance.models import AccessRequest, LegalHold
from vault.migrate import current_revision, downgrade, head_revision, upgrade

JUSTIFICATION = "Mrs Dupont-Ecclestone called about fraud 8812"
REASON, LIFTED = "probate of the Lilas estate", "settled with the notary Verhoeven"


def stored_texts(app: Flask) -> list[bytes]:
    """Every note column as stored, plaintext and ciphertext."""
    with app.app_context():
        rows = [
            *db.session.execute(
                sa.select(AccessRequest.justification, AccessRequest.justification_ciphertext)
            ),
            *db.session.execute(sa.select(LegalHold.reason, LegalHold.reason_ciphertext,
                                          LegalHold.lift_reason, LegalHold.lift_reason_ciphertext)),
        ]  # fmt: skip
    return [c if isinstance(c, bytes) else str(c).encode() for row in rows for c in row]


def test_notes_are_sealed_at_rest_and_shown_to_their_readers(
    app: Flask, client: FlaskClient, make_user: Callable[..., str],
    make_token: Callable[..., str], sales: dict[str, str], officer: dict[str, str],
) -> None:  # fmt: skip
    admin = bearer(make_token(role="admin", name="ops"))
    owner = make_user("owner@example.com", roles=("data_owner",))
    assert client.put("/api/v1/ownership/contact", json={"user_id": owner},
                      headers=admin).status_code == 200  # fmt: skip
    customer_id = client.post("/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
                              headers=sales).get_json()["id"]  # fmt: skip
    make_user("analyst@example.com", roles=("staff",))
    analyst = Staff(app, "analyst@example.com")
    made = analyst.post("/access-requests", {
        "purpose": "support", "categories": ["contact"], "customer_ids": [customer_id],
        "justification": JUSTIFICATION, "duration_days": 3})  # fmt: skip
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["justification"] == JUSTIFICATION
    listed = client.get("/api/v1/access-requests", headers=admin).get_json()["items"]
    assert [r["justification"] for r in listed] == [JUSTIFICATION]
    hold = client.post("/api/v1/legal-holds", json={"customer_id": customer_id, "reason": REASON},
                       headers=officer).get_json()  # fmt: skip
    assert hold["reason"] == REASON
    lifted = client.post(f"/api/v1/legal-holds/{hold['id']}/lift", json={"reason": LIFTED},
                         headers=officer).get_json()  # fmt: skip
    assert (lifted["reason"], lifted["lift_reason"]) == (REASON, LIFTED)
    stored = stored_texts(app)
    assert any(len(blob) > 40 for blob in stored)  # the ciphertexts were read
    for text in (JUSTIFICATION, REASON, LIFTED, "Dupont", "Lilas", "Verhoeven"):
        assert not any(text.encode() in blob for blob in stored), text
    # a ciphertext moved to another row or column does not open
    with app.app_context():
        row = db.session.get(LegalHold, hold["id"])
        assert row is not None
        row.reason_ciphertext = row.lift_reason_ciphertext
        db.session.commit()
    assert client.get("/api/v1/legal-holds?active=false", headers=officer).status_code == 500


def test_a_holds_reasons_go_with_its_customers_erasure(
    app: Flask, client: FlaskClient, sales: dict[str, str], officer: dict[str, str]
) -> None:
    customer_id = client.post("/api/v1/customers", json={"fields": SAMPLE_FIELDS, "region": "EU"},
                              headers=sales).get_json()["id"]  # fmt: skip
    hold = client.post("/api/v1/legal-holds", json={"customer_id": customer_id, "reason": REASON},
                       headers=officer).get_json()  # fmt: skip
    client.post(f"/api/v1/legal-holds/{hold['id']}/lift", json={"reason": LIFTED},
                headers=officer)  # fmt: skip
    filed = client.post("/api/v1/privacy-requests", headers=officer, json={
        "type": "erasure", "customer_id": customer_id, "channel": "letter",
        "identity_check": "signed_letter"})  # fmt: skip
    assert filed.get_json()["status"] == "completed"
    (kept,) = client.get("/api/v1/legal-holds?active=false", headers=officer).get_json()["items"]
    assert (kept["id"], kept["customer_id"], kept["active"]) == (hold["id"], customer_id, False)
    assert (kept["reason"], kept["lift_reason"]) == (None, None)
    assert all(blob in (b"None", b"") for blob in stored_texts(app))


def legacy_rows(url: str) -> None:
    """What a vault of revision 0009 holds: an access request and a lifted legal hold whose
    texts were written in plaintext."""
    engine = create_db_engine(url)
    now = dt.datetime(2026, 1, 1, 12, 0)  # naive: inserted as plain SQL rows
    try:
        upgrade(engine, "0009")
        with Session(engine) as session:
            seed_defaults(session)
            user_id = create_user(session, email="asker@example.com", password="x" * 16,
                                  roles=["staff"]).id  # fmt: skip
            session.commit()
        customer_id = "cus_legacy"
        with engine.begin() as conn:
            meta = sa.MetaData()
            customers = sa.Table("customers", meta, autoload_with=conn)
            conn.execute(customers.insert(), [{  # no fields: only the notes matter here
                "id": customer_id, "region": "EU", "status": "active", "created_at": now,
                "updated_at": now, "last_activity_at": now, "dek_version": 1}])  # fmt: skip
            requests = sa.Table("access_requests", meta, autoload_with=conn)
            holds = sa.Table("legal_holds", meta, autoload_with=conn)
            conn.execute(requests.insert(), [{
                "id": "acr_legacy", "requester_id": user_id, "purpose": "support",
                "fields": "email", "categories": "contact", "customer_ids": customer_id,
                "region": "", "justification": JUSTIFICATION, "duration_days": 3,
                "status": "pending", "approvals": {}, "created_at": now, "decided_by": "",
            }])  # fmt: skip
            conn.execute(holds.insert(), [{
                "id": "hold_legacy", "customer_id": customer_id, "reason": REASON,
                "placed_by": user_id, "placed_at": now, "lifted_by": user_id, "lifted_at": now,
                "lift_reason": LIFTED}])  # fmt: skip
        upgrade(engine)
    finally:
        engine.dispose()


def test_plaintext_notes_of_an_older_vault_stay_readable_and_init_seals_them(
    fresh_database_url: str, make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    FileKeyProvider.create(instance / "master.key")
    legacy_rows(fresh_database_url)
    vault = make_app(fresh_database_url)
    client = vault.test_client()
    with vault.app_context(), db.transaction() as session:
        admin, officer = (
            bearer(create_api_client(session, name=role, role=role, purposes=[],
                                     expires_days=None, regions=[], now=dt.datetime.now(dt.UTC))[1])
            for role in ("admin", "compliance_officer")
        )  # fmt: skip

    def shown() -> tuple[Any, ...]:
        (request,) = client.get("/api/v1/access-requests", headers=admin).get_json()["items"]
        (hold,) = client.get("/api/v1/legal-holds?active=false", headers=officer).get_json()[
            "items"]  # fmt: skip
        return request["justification"], hold["reason"], hold["lift_reason"]

    assert shown() == (JUSTIFICATION, REASON, LIFTED)  # readable before anything is sealed
    env = {"VAULT_DATABASE_URL": fresh_database_url, "VAULT_INSTANCE_PATH": str(instance)}
    sealed = CliRunner(env=env).invoke(main, ["init"], catch_exceptions=False)
    assert sealed.exit_code == 0, sealed.output
    assert "encrypted the justification of 1 access requests" in sealed.stdout
    assert "encrypted the reasons of 1 legal holds" in sealed.stdout
    stored = stored_texts(vault)
    for text in (JUSTIFICATION, REASON, LIFTED):
        assert not any(text.encode() in blob for blob in stored), text
    assert shown() == (JUSTIFICATION, REASON, LIFTED)
    again = CliRunner(env=env).invoke(main, ["init"], catch_exceptions=False)
    assert "Nothing changed" in again.stdout
    # a migration holds no key: it refuses a downgrade that would lose the sealed notes
    engine = create_db_engine(fresh_database_url)
    try:
        with pytest.raises(RuntimeError, match="sealed notes"):
            downgrade(engine, "0009")
        assert current_revision(engine) == head_revision(fresh_database_url)
    finally:
        engine.dispose()
