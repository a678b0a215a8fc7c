"""Bulk import of customers from CSV (``vault import FILE.csv``).

The header names catalogue fields and ``region`` (or ``--region`` gives it); a
``string_list`` field (interests) holds its items separated by ``;``; an empty cell is no
value. Every row is validated as the API validates a new customer, then de-duplicated on the
unique fields (email), against the rows before it and against the vault. Rows are created in
batches, one transaction each with its audit event: a row is imported whole or not at all,
and an interrupted import leaves whole batches (a rerun reports them as duplicates).

Rejected rows go to an error report: line number, field names and the reason, never a value.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from vault.audit.service import AuditContext, record_event
from vault.customers.index_rows import DuplicateCustomer
from vault.customers.service import CustomerStore
from vault.errors import ValidationFailed, describe_errors

LIST_SEPARATOR = ";"
REPORT_COLUMNS = ["line", "fields", "reason", "detail"]
EXTRA = "\x00extra"  # where csv.DictReader's surplus cells are kept


class BadHeader(ValidationFailed):
    """The header names columns the vault does not know (nothing is imported)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    fields: list[str]
    reason: str  # invalid, duplicate_in_file, duplicate_in_vault
    detail: str

    def row(self) -> list[Any]:
        return [self.line, " ".join(self.fields), self.reason, self.detail]


@dataclasses.dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    rejected: list[Rejected] = dataclasses.field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return sum(r.reason.startswith("duplicate") for r in self.rejected)


def check_header(store: CustomerStore, header: list[str], *, region: str | None) -> list[str]:
    """The columns to read; raises ``BadHeader`` naming unknown or repeated columns."""
    errors: dict[str, list[str]] = {}
    known = set(store.catalogue.fields) | {"region"}
    for name in header:
        if name not in known:
            errors[name or "(empty)"] = ["is not a field of the catalogue, nor region"]
    repeated = sorted({n for n in header if header.count(n) > 1})
    for name in repeated:
        errors[name] = ["appears twice"]
    if "region" not in header and region is None:
        errors["region"] = ["give a region column or --region"]
    if errors:
        raise BadHeader("the header of the file is not usable", errors=errors)
    return header


class CustomerImport:
    """Reads rows, creates the good ones batch by batch; ``commit`` after each batch."""

    def __init__(
        self, store: CustomerStore, context: AuditContext, *, region: str | None = None,
        batch_size: int = 500, commit: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.context = context
        self.region = region
        self.batch_size = batch_size
        self.commit = commit or (lambda: None)
        self.lists = {n for n, spec in store.catalogue.fields.items() if spec.type == "string_list"}
        self.seen: dict[tuple[str, bytes], int] = {}  # unique value -> first line

    def run(
        self, rows: Iterable[tuple[int, dict[str, str]]], progress: Callable[[int], None]
    ) -> ImportReport:
        report = ImportReport()
        batch: list[tuple[int, dict[str, Any], str, dict[str, bytes]]] = []
        for line, raw in rows:
            report.rows += 1
            checked = self._check(line, raw, report)
            if checked is not None:
                batch.append(checked)
            if len(batch) >= self.batch_size:
                self._create(batch, report)
                progress(len(batch))
                batch = []
        if batch:
            self._create(batch, report)
            progress(len(batch))
        return report

    def _check(
        self, line: int, raw: dict[str, str], report: ImportReport
    ) -> tuple[int, dict[str, Any], str, dict[str, bytes]] | None:
        if EXTRA in raw:
            detail = "the row has more cells than the header"
            report.rejected.append(Rejected(line, [], "invalid", detail))
            return None
        fields: dict[str, Any] = {}
        for name, cell in raw.items():
            text = (cell or "").strip()
            if name == "region" or not text:
                continue
            fields[name] = (
                [item.strip() for item in text.split(LIST_SEPARATOR) if item.strip()]
                if name in self.lists
                else text
            )
        region = (raw.get("region") or "").strip() or self.region or ""
        try:
            unique = self.store.check(fields, region)
        except ValidationFailed as exc:
            errors = exc.errors or {}
            detail = describe_errors(errors)
            report.rejected.append(Rejected(line, sorted(errors), "invalid", detail))
            return None
        for name, digest in sorted(unique.items()):
            first = self.seen.get((name, digest))
            if first is not None:
                report.rejected.append(
                    Rejected(line, [name], "duplicate_in_file", f"same {name} as line {first}")
                )
                return None
        for name, digest in unique.items():
            self.seen[(name, digest)] = line
        return line, fields, region, unique

    def _create(
        self, batch: list[tuple[int, dict[str, Any], str, dict[str, bytes]]], report: ImportReport
    ) -> None:
        taken: dict[tuple[str, bytes], str] = {}
        for name in {n for _l, _f, _r, unique in batch for n in unique}:
            digests = {unique[name] for _l, _f, _r, unique in batch if name in unique}
            taken.update({(name, d): c for d, c in self.store.taken(name, digests).items()})
        fresh = []
        for line, fields, region, unique in batch:
            clash = next((n for n, d in sorted(unique.items()) if (n, d) in taken), None)
            if clash is not None:
                detail = f"same {clash} as customer {taken[(clash, unique[clash])]}"
                report.rejected.append(Rejected(line, [clash], "duplicate_in_vault", detail))
            else:
                fresh.append((line, fields, region))
        if not fresh:
            return
        try:
            with self.store.session.begin_nested():  # none of the batch stays if one clashes
                ids = self.store.create_many([(f, region) for _line, f, region in fresh])
        except DuplicateCustomer:
            # Taken meanwhile by another writer: one row at a time, each in a savepoint.
            ids = []
            for line, fields, region in fresh:
                try:
                    with self.store.session.begin_nested():
                        ids.append(self.store.create(fields, region=region))
                except DuplicateCustomer as exc:
                    refused = Rejected(line, [exc.field], "duplicate_in_vault",
                                       f"same {exc.field} as another customer")  # fmt: skip
                    report.rejected.append(refused)
        if ids:
            names = sorted({n for _line, fields, _region in fresh for n in fields})
            record_event(self.store.session, self.context, action="customer.import",
                         outcome="allowed", now=self.store.now, customer_ids=ids,
                         field_names=names)  # fmt: skip
        self.commit()
        report.imported += len(ids)


def read_rows(lines: Iterable[str]) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows (with their line numbers) of a CSV file."""
    reader = csv.DictReader(lines, restkey=EXTRA)
    header = list(reader.fieldnames or [])

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for row in reader:
            yield reader.line_num, row

    return header, rows()


def write_report(report: ImportReport, out: Any) -> None:
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for rejected in report.rejected:
        writer.writerow(rejected.row())
