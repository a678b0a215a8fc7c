"""The customer service: validation, encryption per field, search, updates, pages,
interactions, consent, the runtime catalogue and crypto-shredding."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers import SAMPLE_FIELDS
from vault.crypto.envelope import DataKeyDestroyed, DecryptionFailed, FieldCipher, KeyRing
from vault.customers import packing
from vault.customers.catalogue import FieldSpec, add_field, load_catalogue
from vault.customers.index_rows import DuplicateCustomer
from vault.customers.interactions import add_interaction, list_interactions
from vault.customers.models import Customer, Interaction
from vault.customers.service import CustomerStore
from vault.errors import Conflict, NotFound, ValidationFailed
from vault.governance.consent import consent_overview, consenting, record_consent

ALL_FIELDS = list(SAMPLE_FIELDS)


def fields(**changes: Any) -> dict[str, Any]:
    return {**SAMPLE_FIELDS, **changes}


def count_customers(store: CustomerStore) -> int:
    return store.session.scalar(sa.select(sa.func.count()).select_from(Customer)) or 0


def fresh(store: CustomerStore) -> CustomerStore:
    """The same store with a new key ring: as the next request would see it."""
    return CustomerStore(
        store.session, KeyRing(store.keyring.provider), store.catalogue, now=store.now
    )


def test_create_and_read_back_normalised_values(store: CustomerStore) -> None:
    customer_id = store.create(fields(), region="EU")
    assert customer_id.startswith("cus_")
    assert len(customer_id) == 4 + 32
    record = fresh(store).read_one(customer_id, ALL_FIELDS)
    assert record.region == "EU"
    assert record.status == "active"
    assert record.values["email"] == "Jeanne.Dupont@example.org"  # domain lower-cased
    assert record.values["phone"] == "+442079460958"  # E.164
    assert record.values["interests"] == ["sailing", "ceramics"]
    assert record.values["birth_date"] == "1984-03-09"


def test_only_the_requested_fields_are_fetched_and_decrypted(
    store: CustomerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = store.create(fields(), region="EU")
    opened: list[str] = []
    original, original_many = FieldCipher.decrypt, FieldCipher.decrypt_many

    def spy(self: FieldCipher, field: str, blob: bytes) -> bytes:
        opened.append(field)
        return original(self, field, blob)

    def spy_many(self: FieldCipher, blobs: dict[str, bytes]) -> dict[str, bytes]:
        opened.extend(blobs)
        return original_many(self, blobs)

    monkeypatch.setattr(FieldCipher, "decrypt", spy)
    monkeypatch.setattr(FieldCipher, "decrypt_many", spy_many)
    record = fresh(store).read_one(customer_id, ["given_name", "email"])
    assert set(record.values) == {"given_name", "email"}
    assert sorted(opened) == ["email", "given_name"]


@pytest.mark.parametrize(
    ("changes", "bad_field"),
    [
        ({"shoe_size": "44"}, "shoe_size"),
        ({"given_name": 42}, "given_name"),
        ({"email": "jeanne-at-example.org"}, "email"),
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "020 7946 0958"}, "phone"),
        ({"birth_date": "09/03/1984"}, "birth_date"),
        ({"job_title": "x" * 101}, "job_title"),
        ({"interests": "sailing"}, "interests"),
        ({"family_name": None}, "family_name"),
        ({"given_name": "   "}, "given_name"),
    ],
)
def test_invalid_input_is_refused_by_field_name_and_nothing_is_written(
    store: CustomerStore, changes: dict[str, Any], bad_field: str
) -> None:
    values = fields(**changes)
    if changes.get("family_name", 0) is None:
        del values["family_name"]
    with pytest.raises(ValidationFailed) as refused:
        store.create(values, region="EU")
    assert refused.value.errors is not None
    assert bad_field in refused.value.errors
    text = str(refused.value.errors) + refused.value.detail
    for value in changes.values():
        if isinstance(value, str) and value.strip():
            assert value not in text
    assert count_customers(store) == 0


def test_all_problems_are_reported_at_once(store: CustomerStore) -> None:
    with pytest.raises(ValidationFailed) as refused:
        store.create({"email": "bad", "shoe_size": 1}, region="EU")
    assert set(refused.value.errors or {}) == {"email", "shoe_size", "given_name", "family_name"}


def test_an_unknown_region_is_refused(store: CustomerStore) -> None:
    with pytest.raises(ValidationFailed) as refused:
        store.create(fields(), region="Mars")
    assert list(refused.value.errors or {}) == ["region"]


def test_a_second_customer_with_the_same_email_in_another_case_conflicts(
    store: CustomerStore,
) -> None:
    first = store.create(fields(), region="EU")
    with pytest.raises(DuplicateCustomer) as duplicate:
        store.create(
            fields(email="JEANNE.DUPONT@EXAMPLE.ORG", phone="+33 1 42 68 53 00"), region="UK"
        )
    assert duplicate.value.existing_id == first
    assert isinstance(duplicate.value, Conflict)
    assert "JEANNE" not in duplicate.value.detail
    assert count_customers(store) == 1


def test_search_by_email_in_another_case_and_phone_in_another_format(store: CustomerStore) -> None:
    target = store.create(fields(), region="EU")
    store.create(fields(email="other@example.org", phone="+44 20 7946 0000"), region="EU")
    assert store.search("email", "jeanne.dupont@EXAMPLE.org") == [target]
    assert store.search("email", "  Jeanne.Dupont@example.org ") == [target]
    assert store.search("phone", "+442079460958") == [target]
    assert store.search("phone", "+44 (0)20 7946 0958".replace("(0)", "")) == [target]
    assert store.search("email", "nobody@example.org") == []


def test_search_refuses_non_searchable_fields_and_bad_terms(store: CustomerStore) -> None:
    with pytest.raises(ValidationFailed):
        store.search("national_id", "FR-1")
    with pytest.raises(ValidationFailed) as bad:
        store.search("email", "not an email")
    assert "not an email" not in str(bad.value.errors)


def test_update_sets_and_removes_fields(store: CustomerStore, clock: Any) -> None:
    customer_id = store.create(fields(), region="EU")
    store.now = store.now + dt.timedelta(hours=1)
    changed = store.update(customer_id, {"job_title": "Head of Procurement", "national_id": None})
    assert changed == ["job_title", "national_id"]
    record = fresh(store).read_one(customer_id, ALL_FIELDS, with_times=True)
    assert record.values["job_title"] == "Head of Procurement"
    assert "national_id" not in record.values
    assert record.created_at is not None
    assert record.updated_at is not None
    assert record.updated_at > record.created_at
    assert fresh(store).read_one(customer_id, []).updated_at is None


def test_update_keeps_the_search_index_in_step(store: CustomerStore) -> None:
    customer_id = store.create(fields(), region="EU")
    store.update(customer_id, {"email": "jeanne@new.example"})
    assert store.search("email", "jeanne@new.example") == [customer_id]
    assert store.search("email", SAMPLE_FIELDS["email"]) == []
    other = store.create(fields(email="someone@example.org"), region="EU")
    with pytest.raises(DuplicateCustomer):
        store.update(other, {"email": "Jeanne@New.Example"})


def test_update_refuses_removing_a_required_field_and_unknown_customers(
    store: CustomerStore,
) -> None:
    customer_id = store.create(fields(), region="EU")
    with pytest.raises(ValidationFailed):
        store.update(customer_id, {"given_name": None})
    with pytest.raises(ValidationFailed):
        store.update(customer_id, {})
    with pytest.raises(NotFound):
        store.update("cus_" + "0" * 32, {"job_title": "x"})


def test_pages_follow_the_cursor(store: CustomerStore) -> None:
    ids = []
    for i in range(5):
        store.now = store.now + dt.timedelta(seconds=1)
        ids.append(store.create(fields(email=f"c{i}@example.org"), region="EU" if i % 2 else "US"))
    first = store.list_page(limit=2)
    second = store.list_page(limit=2, cursor=first.next_cursor)
    third = store.list_page(limit=2, cursor=second.next_cursor)
    assert first.ids + second.ids + third.ids == ids
    assert third.next_cursor is None
    assert store.list_page(limit=10, regions={"EU"}).ids == [ids[1], ids[3]]
    with pytest.raises(ValidationFailed):
        store.list_page(cursor="garbage!")
    with pytest.raises(ValidationFailed):
        store.list_page(limit=501)


def test_a_ciphertext_copied_to_another_customer_or_field_does_not_decrypt(
    store: CustomerStore,
) -> None:
    victim = store.create(fields(), region="EU")
    thief = store.create(fields(email="thief@example.org", phone="+33 1 42 68 53 00"), region="EU")
    session = store.session

    def packed(customer_id: str) -> bytes | None:
        return session.scalar(sa.select(Customer.sealed_values).where(Customer.id == customer_id))

    def blob(customer_id: str, field: str) -> bytes:
        return packing.unpack(packed(customer_id))[field]

    def overwrite(customer_id: str, field: str, value: bytes) -> None:
        session.execute(
            sa.update(Customer)
            .where(Customer.id == customer_id)
            .values(sealed_values=packing.replace(packed(customer_id), {field: value}))
        )

    overwrite(thief, "national_id", blob(victim, "national_id"))
    with pytest.raises(DecryptionFailed, match=f"'national_id' of customer {thief}"):
        fresh(store).read_one(thief, ["national_id"])
    overwrite(victim, "job_title", blob(victim, "national_id"))
    with pytest.raises(DecryptionFailed, match=f"'job_title' of customer {victim}"):
        fresh(store).read_one(victim, ["job_title"])


def test_destroying_the_data_key_makes_every_value_unreadable(store: CustomerStore) -> None:
    customer_id = store.create(fields(), region="EU")
    add_interaction(store, customer_id, kind="call", text="asked about invoices")
    store.destroy_data_key(customer_id)
    for field in ALL_FIELDS:
        with pytest.raises(DataKeyDestroyed):
            fresh(store).read_one(customer_id, [field])
    with pytest.raises(DataKeyDestroyed):
        list_interactions(fresh(store), customer_id, with_text=True)


def test_interactions_keep_their_text_encrypted(store: CustomerStore) -> None:
    customer_id = store.create(fields(), region="EU")
    store.now = store.now + dt.timedelta(days=1)
    first = add_interaction(
        store, customer_id, kind="purchase", channel="web", amount="129.90", currency="eur",
        occurred_at=store.now - dt.timedelta(hours=2), text="Order 1182: ceramic kiln",
    )  # fmt: skip
    add_interaction(store, customer_id, kind="support_ticket", text="Kiln arrived cracked")
    items = list_interactions(fresh(store), customer_id, with_text=True)
    assert [i.kind for i in items] == ["support_ticket", "purchase"]
    assert items[1].id == first
    assert items[1].text == "Order 1182: ceramic kiln"
    assert str(items[1].amount) == "129.90"
    assert items[1].currency == "EUR"
    assert all(i.text is None for i in list_interactions(store, customer_id))
    assert [i.kind for i in list_interactions(store, customer_id, kinds={"purchase"})] == [
        "purchase"
    ]
    stored = store.session.scalar(
        sa.select(Interaction.text_ciphertext).where(Interaction.id == first)
    )
    assert stored is not None
    assert b"kiln" not in stored
    last_activity = store.session.scalar(
        sa.select(Customer.last_activity_at).where(Customer.id == customer_id)
    )
    assert last_activity == store.now


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "telepathy"}, "kind"),
        ({"kind": "purchase", "amount": "lots", "currency": "EUR"}, "amount"),
        ({"kind": "purchase", "amount": "10"}, "currency"),
        ({"kind": "call", "occurred_at": dt.datetime(2026, 1, 1)}, "occurred_at"),
    ],
)
def test_invalid_interactions_are_refused(
    store: CustomerStore, kwargs: dict[str, Any], field: str
) -> None:
    customer_id = store.create(fields(), region="EU")
    with pytest.raises(ValidationFailed) as refused:
        add_interaction(store, customer_id, **kwargs)
    assert field in (refused.value.errors or {})


def test_consent_history_and_current_state(store: CustomerStore) -> None:
    customer_id = store.create(fields(), region="EU")
    other = store.create(fields(email="b@example.org"), region="EU")
    record_consent(store, customer_id, purpose="marketing", granted=True, source="web-form",
                   notice_version="2026-01", evidence="checkbox ticked at 10.0.0.7")  # fmt: skip
    assert store.list_page(only=consenting("marketing")).ids == [customer_id]
    store.now = store.now + dt.timedelta(days=3)
    record_consent(
        store, customer_id, purpose="marketing", granted=False, source="unsubscribe-link"
    )
    overview = consent_overview(store, customer_id)
    assert overview["marketing"]["granted"] is False
    history = overview["marketing"]["history"]
    assert [h.granted for h in history] == [True, False]
    assert history[0].notice_version == "2026-01"
    assert history[0].has_evidence
    assert store.list_page(only=consenting("marketing")).ids == []
    assert consent_overview(store, other) == {}


def test_invalid_consent_is_refused(store: CustomerStore) -> None:
    customer_id = store.create(fields(), region="EU")
    with pytest.raises(ValidationFailed) as refused:
        record_consent(store, customer_id, purpose="gossip", granted=True, source="")
    assert set(refused.value.errors or {}) == {"purpose", "source"}


def test_the_catalogue_grows_at_run_time(store: CustomerStore) -> None:
    before = load_catalogue(store.session)
    add_field(store.session, FieldSpec("loyalty_tier", "string", "profile", "low", max_length=20))
    after = load_catalogue(store.session)
    assert after.version != before.version
    assert "loyalty_tier" in after
    grown = CustomerStore(store.session, store.keyring, after, now=store.now)
    customer_id = grown.create(fields(loyalty_tier="gold"), region="EU")
    assert grown.read_one(customer_id, ["loyalty_tier"]).values == {"loyalty_tier": "gold"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (FieldSpec("Bad Name", "string", "profile", "low"), "name"),
        (FieldSpec("shoe", "colour", "profile", "low"), "type"),
        (FieldSpec("shoe", "string", "profile", "extreme"), "sensitivity"),
        (FieldSpec("shoe", "string", "profile", "low", max_length=0), "max_length"),
        (FieldSpec("shoe", "string", "profile", "low", unique=True), "unique"),
        (FieldSpec("shoe", "string", "profile", "low", required=True), "required"),
        (FieldSpec("notes", "text", "profile", "low", searchable=True), "searchable"),
    ],
)
def test_bad_field_definitions_are_refused(
    store: CustomerStore, spec: FieldSpec, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        add_field(store.session, spec)
    assert field in (refused.value.errors or {})


def test_an_existing_field_name_conflicts(store: CustomerStore) -> None:
    with pytest.raises(Conflict):
        add_field(store.session, FieldSpec("company", "string", "profile", "low"))


def test_altered_packed_values_fail_naming_the_customer(store: CustomerStore) -> None:
    customer_id = store.create(fields(), region="EU")
    store.session.execute(
        sa.update(Customer).where(Customer.id == customer_id).values(sealed_values=b"\x01\x05ema")
    )
    with pytest.raises(DecryptionFailed, match=customer_id):
        fresh(store).read_one(customer_id, ["email"])


def test_create_many_is_all_or_nothing(store: CustomerStore) -> None:
    good = [(fields(email=f"m{i}@example.org"), "EU") for i in range(3)]
    ids = store.create_many(good)
    assert len(ids) == 3
    assert [r.values["email"] for r in fresh(store).read(ids, ["email"])] == [
        "m0@example.org", "m1@example.org", "m2@example.org",
    ]  # fmt: skip
    with pytest.raises(ValidationFailed) as invalid:
        store.create_many([(fields(email="n1@example.org"), "EU"), (fields(email="bad"), "EU")])
    assert invalid.value.extra == {"index": 1}
    with pytest.raises(DuplicateCustomer):
        store.create_many(
            [(fields(email="x@example.org"), "EU"), (fields(email="X@example.org"), "US")]
        )
    with pytest.raises(DuplicateCustomer) as taken:
        store.create_many(
            [(fields(email="y@example.org"), "EU"), (fields(email="m1@example.org"), "US")]
        )
    assert taken.value.existing_id == ids[1]
    assert count_customers(store) == 3


def test_packing_round_trips_and_replaces() -> None:
    payload = packing.pack({"email": b"\x00" * 40, "phone": b"\x01" * 33})
    assert packing.unpack(payload) == {"email": b"\x00" * 40, "phone": b"\x01" * 33}
    assert packing.unpack(payload, packing.wanted_names(["phone"])) == {"phone": b"\x01" * 33}
    changed = packing.replace(payload, {"email": None, "company": b"\x02" * 30})
    assert packing.unpack(changed) == {"phone": b"\x01" * 33, "company": b"\x02" * 30}
    assert packing.replace(packing.pack({"email": b"x" * 30}), {"email": None}) is None
    assert packing.unpack(None) == {}
    with pytest.raises(packing.MalformedPayload):
        packing.unpack(payload[:-5])
