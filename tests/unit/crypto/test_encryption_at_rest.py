"""No personal value is stored in clear: not in any column, not in the SQLite file or its WAL;
and key rotation keeps every value readable, also after a crash half-way."""

from __future__ import annotations

import datetime as dt
import glob
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from tests.helpers import DATABASE_KIND, PASSWORD, SAMPLE_FIELDS
from vault import runtime
from vault.auth.service import create_user, principal_for_user
from vault.bootstrap import prepare_database
from vault.crypto.envelope import KeyRing
from vault.crypto.rotation import key_status, rotate_master_key
from vault.customers.data_keys import CustomerDataKeys
from vault.customers.interactions import add_interaction
from vault.customers.service import CustomerStore
from vault.db import db
from vault.governance.access_requests import create_request, set_owner
from vault.governance.consent import record_consent
from vault.governance.legal_holds import lift_hold, place_hold
from vault.governance.models import AccessRequest, LegalHold
from vault.governance.notes import justification_of, reasons_of
from vault.models import Base

PEOPLE: list[dict[str, Any]] = [
    SAMPLE_FIELDS,
    {
        "given_name": "Oluwaseun",
        "family_name": "Abernathy-Kowalczyk",
        "email": "seun.abernathy@kowalczyk.example.com",
        "phone": "+1 415 555 2671",
        "postal_address": "901 Folsom Street, San Francisco",
        "birth_date": "1979-11-30",
        "national_id": "US-SSN-078051120",
        "job_title": "Quantitative Analyst",
        "company": "Brightwater Holdings",
        "interests": ["orienteering"],
    },
]
SECRET_TEXTS = ["complained about the zanzibar shipment", "evidence: ticked box at kiosk 4471"]
# staff's free text: an access request's justification, a legal hold's reasons
NOTES = ["call back Mrs Quintessence about fraud 8812", "probate of the Lilas estate",
         "estate settled with the notary Verhoeven"]  # fmt: skip


def needles() -> list[bytes]:
    """Every value, in the forms it was given and stored in, at least 5 bytes long."""
    found: set[str] = set()
    for person in PEOPLE:
        for value in person.values():
            for item in value if isinstance(value, list) else [value]:
                found.update({item, item.lower(), item.replace(" ", "")})
    found.update(["+442079460958", "+14155552671", *SECRET_TEXTS, *NOTES])
    return sorted({n.encode() for n in found if len(n) >= 5})


@pytest.fixture
def committed_vault(fresh_database_url: str, make_app: Callable[..., Flask]) -> Flask:
    """A vault whose customers are really committed (no rollback), as in production."""
    prepare_database(fresh_database_url)
    app = make_app(fresh_database_url)
    with app.app_context(), db.transaction():
        store = runtime.customer_store()
        for person in PEOPLE:
            customer_id = store.create(person, region="EU")
            add_interaction(store, customer_id, kind="support_ticket", text=SECRET_TEXTS[0])
            record_consent(store, customer_id, purpose="marketing", granted=True,
                           source="kiosk", evidence=SECRET_TEXTS[1])  # fmt: skip
        write_notes(db.session, store, customer_id)
    return app


def write_notes(session: Session, store: CustomerStore, customer_id: str) -> None:
    """An access request and a placed and lifted legal hold, with staff's words in them."""
    owner = create_user(session, email="owner@example.com", password=PASSWORD,
                        roles=["data_owner"])  # fmt: skip
    staff = create_user(session, email="staff@example.com", password=PASSWORD, roles=["staff"])
    set_owner(session, store.catalogue, "contact", owner.id, now=store.now)
    requester = principal_for_user(staff)
    create_request(session, store.catalogue, requester, purpose="support", fields=["email"],
                   categories=[], customer_ids=[customer_id], region="", justification=NOTES[0],
                   duration_days=3, now=store.now, notes=runtime.note_cipher())  # fmt: skip
    hold = place_hold(session, customer_id, reason=NOTES[1], by=owner.id, now=store.now,
                      notes=runtime.note_cipher())  # fmt: skip
    lift_hold(session, hold.id, reason=NOTES[2], by=owner.id, now=store.now,
              notes=runtime.note_cipher())  # fmt: skip


def read_notes(app: Flask) -> list[str | None]:
    with app.app_context():
        notes = runtime.note_cipher()
        (request,) = db.session.scalars(sa.select(AccessRequest))
        (hold,) = db.session.scalars(sa.select(LegalHold))
        return [justification_of(request, notes), *reasons_of(hold, notes)]


def test_no_column_of_any_table_holds_a_value_in_clear(committed_vault: Flask) -> None:
    with committed_vault.app_context():
        session = db.session
        rows_seen = 0
        for table in Base.metadata.sorted_tables:
            for row in session.execute(sa.select(table)):
                rows_seen += 1
                for cell in row:
                    raw = cell if isinstance(cell, bytes) else str(cell).encode()
                    for needle in needles():
                        assert needle not in raw, f"{needle!r} in clear in {table.name}"
        assert rows_seen > 20


def test_the_database_storage_holds_no_value_in_clear(committed_vault: Flask) -> None:
    url = committed_vault.config["VAULT_SETTINGS"].database_url
    if DATABASE_KIND == "sqlite":
        path = url.removeprefix("sqlite:///")
        files = [Path(p) for p in glob.glob(path + "*")]
        assert Path(path + "-wal") in files  # WAL mode: recent writes live here
        blobs = [f.read_bytes() for f in files]
    else:
        # PostgreSQL: every table as the server renders it (text, with bytea in hex).
        with committed_vault.app_context():
            queries = [f'SELECT t::text FROM "{t.name}" t' for t in Base.metadata.sorted_tables]  # noqa: S608  (our own table names)
            blobs = ["\n".join(db.session.scalars(sa.text(q))).encode() for q in queries]
        needles_hex = [n.hex().encode() for n in needles()]  # bytea renders as hex
        assert all(h not in b for h in needles_hex for b in blobs)
    assert sum(len(b) for b in blobs) > 5_000  # the scan saw real data
    for blob in blobs:
        for needle in needles():
            assert needle not in blob, f"{needle!r} found in the database's storage"


def read_everything(app: Flask) -> dict[str, dict[str, Any]]:
    with app.app_context():
        store = CustomerStore(
            db.session, KeyRing(runtime.key_provider()), runtime.customer_store().catalogue,
            now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        ids = store.list_page(limit=500).ids
        return {r.id: r.values for r in store.read(ids, list(SAMPLE_FIELDS))}


def test_rotation_rewraps_every_data_key_and_keeps_every_value(
    committed_vault: Flask,
) -> None:
    before = read_everything(committed_vault)
    assert read_notes(committed_vault) == NOTES
    with committed_vault.app_context():
        provider = runtime.key_provider()
        report = rotate_master_key(CustomerDataKeys(db.session), provider, batch_size=1)
        assert report.started_new_version
        assert report.rewrapped == 2
        status = key_status(CustomerDataKeys(db.session), provider)
        assert status.current_version == 2
        assert status.data_keys_by_version == {2: 2}
    assert read_everything(committed_vault) == before
    assert read_notes(committed_vault) == NOTES  # the notes' key is derived: it never rotates


def test_rotation_survives_a_crash_half_way_and_a_rerun(
    fresh_database_url: str, make_app: Callable[..., Flask]
) -> None:
    prepare_database(fresh_database_url)
    app = make_app(fresh_database_url)
    with app.app_context(), db.transaction():
        store = runtime.customer_store()
        for i in range(25):
            store.create({**SAMPLE_FIELDS, "email": f"person{i}@example.org"}, region="EU")
    before = read_everything(app)

    class Crash(Exception):
        """The simulated crash after the first batch."""

    def crash_after_first_batch(_count: int) -> None:
        raise Crash

    with app.app_context():
        provider = runtime.key_provider()
        with pytest.raises(Crash):
            rotate_master_key(
                CustomerDataKeys(db.session),
                provider,
                batch_size=10,
                on_batch=crash_after_first_batch,
            )
        db.session.rollback()
        status = key_status(CustomerDataKeys(db.session), provider)
        assert status.data_keys_by_version == {1: 15, 2: 10}
    assert read_everything(app) == before  # both versions still open

    with app.app_context():
        report = rotate_master_key(
            CustomerDataKeys(db.session), runtime.key_provider(), batch_size=10
        )
        assert not report.started_new_version
        assert report.rewrapped == 15
        assert key_status(
            CustomerDataKeys(db.session), runtime.key_provider()
        ).data_keys_by_version == {2: 25}
    assert read_everything(app) == before
