"""``vault import FILE.csv``: validation, de-duplication, whole rows only, a per-row error
report without values, an audit event per batch."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask

from tests.helpers import SAMPLE_FIELDS
from vault import runtime
from vault.audit.models import AuditEvent
from vault.cli import main
from vault.customers.index_rows import IndexRows
from vault.customers.models import Customer
from vault.db import db

HEADER = ["given_name", "family_name", "email", "phone", "interests", "region"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_import(app: Flask, *args: str) -> Result:
    settings = app.config["VAULT_SETTINGS"]
    env = {"VAULT_DATABASE_URL": settings.database_url,
           "VAULT_INSTANCE_PATH": str(settings.instance_path),
           "VAULT_AUDIT_ANCHOR": settings.audit_anchor}  # fmt: skip
    return CliRunner(env=env).invoke(main, ["import", *args])


@pytest.fixture
def vault(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def customers(app: Flask) -> dict[str, dict[str, object]]:
    """email -> every value, read back through the store."""
    with app.app_context():
        store = runtime.customer_store()
        ids = store.list_page(limit=500).ids
        return {
            str(r.values["email"]): r.values | {"region": r.region}
            for r in store.read(ids, store.catalogue.fields)
        }


def test_good_rows_are_imported_and_bad_ones_reported_without_values(
    vault: Flask, tmp_path: Path
) -> None:
    with vault.app_context():
        runtime.customer_store().create(SAMPLE_FIELDS, region="EU")
        db.session.commit()
    source = write_csv(tmp_path / "crm.csv", [
        ["Ada", "Lovelace", "ada@example.org", "+44 20 7946 0001", "maths; engines", "UK"],
        ["Grace", "Hopper", "Grace@Example.org", "", "", "US"],
        ["Bad", "Phone", "bad.phone@example.org", "12-not-a-phone", "", "EU"],
        ["", "Nameless", "nameless@example.org", "", "", "EU"],
        ["Ada", "Again", "ADA@example.org", "", "", "UK"],  # same email as line 2
        ["Jeanne", "Twice", SAMPLE_FIELDS["email"], "", "", "EU"],  # already in the vault
        ["Far", "Away", "far@example.org", "", "", "MARS"],
        ["Too", "Many", "many@example.org", "", "", "EU", "surplus"],
    ])  # fmt: skip
    result = run_import(vault, str(source))
    assert result.exit_code == 1, result.output
    assert "Imported 2 of 8 rows." in result.output
    assert "Rejected 6 rows (2 duplicates)" in result.output

    found = customers(vault)
    # (e-mail domains are lower-cased; search ignores case altogether)
    assert set(found) == {"ada@example.org", "Grace@example.org", "Jeanne.Dupont@example.org"}
    assert found["ada@example.org"]["interests"] == ["maths", "engines"]
    assert found["ada@example.org"]["phone"] == "+442079460001"
    assert found["ada@example.org"]["region"] == "UK"
    assert "phone" not in found["Grace@example.org"]  # an empty cell is no value

    report_file = source.with_name("crm.csv.errors.csv")
    with report_file.open(encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    by_line = {int(r["line"]): r for r in report}
    assert {n: by_line[n]["reason"] for n in by_line} == {
        4: "invalid", 5: "invalid", 6: "duplicate_in_file", 7: "duplicate_in_vault",
        8: "invalid", 9: "invalid",
    }  # fmt: skip
    assert by_line[4]["fields"] == "phone"
    assert by_line[5]["fields"] == "given_name"
    assert by_line[6]["detail"] == "same email as line 2"
    assert by_line[8]["fields"] == "region"
    text = report_file.read_text(encoding="utf-8") + result.output
    for value in ("12-not-a-phone", "Nameless", "ADA@example.org", SAMPLE_FIELDS["email"],
                  "MARS", "surplus", "Lovelace"):  # fmt: skip
        assert value not in text

    with vault.app_context():
        events = db.session.execute(
            sa.select(AuditEvent.actor_id, AuditEvent.customer_ids, AuditEvent.field_names).where(
                AuditEvent.action == "customer.import"
            )
        ).all()
    assert len(events) == 1
    assert events[0].actor_id == "import"
    assert len(events[0].customer_ids.split()) == 2
    assert "@" not in events[0].customer_ids + events[0].field_names


def test_a_rerun_imports_nothing_twice(vault: Flask, tmp_path: Path) -> None:
    rows = [[f"P{i}", "Person", f"p{i}@example.org", "", "", "EU"] for i in range(7)]
    source = write_csv(tmp_path / "people.csv", rows)
    first = run_import(vault, str(source), "--batch-size", "3")
    assert first.exit_code == 0, first.output
    assert "Imported 7 of 7 rows." in first.output
    again = run_import(vault, str(source), "--batch-size", "3")
    assert again.exit_code == 1
    assert "Imported 0 of 7 rows." in again.output
    assert "(7 duplicates)" in again.output
    with vault.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 7
        batches = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "customer.import")
        )
    assert batches == 3  # 3 + 3 + 1


def test_a_region_option_and_a_bad_header(vault: Flask, tmp_path: Path) -> None:
    header = ["given_name", "family_name", "email"]
    source = write_csv(tmp_path / "eu.csv", [["Eva", "Ohne", "eva@example.org"]], header)
    missing = run_import(vault, str(source))
    assert missing.exit_code == 2
    assert "region" in missing.output
    assert run_import(vault, str(source), "--region", "MARS").exit_code == 2
    done = run_import(vault, str(source), "--region", "EU")
    assert done.exit_code == 0, done.output
    assert customers(vault)["eva@example.org"]["region"] == "EU"

    unknown = write_csv(tmp_path / "odd.csv", [["x", "y"]], ["email", "shoe_size"])
    refused = run_import(vault, str(unknown), "--region", "EU")
    assert refused.exit_code == 2
    assert "shoe_size" in refused.output
    assert len(customers(vault)) == 1


def test_a_batch_that_clashes_at_the_unique_index_leaves_no_customer_behind(
    vault: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_import(vault, str(write_csv(tmp_path / "a.csv", [["A", "B", "a@example.org",
                                                                   "", "", "EU"]])))  # fmt: skip
    assert first.exit_code == 0, first.output
    # As if another writer took the address after the batch was checked: only the unique
    # index sees the clash, and the batch falls back to one customer at a time.
    monkeypatch.setattr(IndexRows, "taken", lambda *_a, **_k: {})
    monkeypatch.setattr(IndexRows, "check", lambda *_a, **_k: None)
    rows = [["A", "B", "a@example.org", "", "", "EU"], ["C", "D", "c@example.org", "", "", "EU"]]
    second = run_import(vault, str(write_csv(tmp_path / "b.csv", rows)))
    assert "Imported 1 of 2 rows." in second.output, second.output
    assert sorted(customers(vault)) == ["a@example.org", "c@example.org"]
    with vault.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2
