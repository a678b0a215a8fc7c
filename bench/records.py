"""Encrypted customer records: what envelope encryption, blind indexes and master-key rotation
cost, against what a Flask team would otherwise write.

Every contender stores the same ten fields of the same deterministic synthetic customers in
the same SQLite file (WAL, ``BEGIN IMMEDIATE``, as the vault configures it):

* vault: ``CustomerStore`` (a row per customer with its wrapped data key and its values,
  each its own AES-256-GCM ciphertext, packed; HMAC blind indexes for email and phone;
  validation and normalisation);
* plain: an ORM model with ten clear-text columns, the floor nobody can beat;
* sqlalchemy-utils: the same model with every column a
  ``StringEncryptedType(Unicode, key, AesGcmEngine)``, the usual drop-in alternative (one
  static key, no per-customer keys, no search, no rotation without rewriting every value).

A ``KeyRing`` lives for one request, so each simulated request gets a fresh one and pays for
unwrapping its data keys. Contenders alternate within each repetition, so a noisy neighbour
on the shared machine hurts all of them alike; targets are ratios measured in the same run.
Search and rotation use one large vault (``BENCH_SEARCH_CUSTOMERS``, default 100,000)
created through ``CustomerStore.create_many`` (what an import uses), shared by the two; the
rotation benchmark checks afterwards that a sample of customers still reads back unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import random
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column

from bench.harness import Context, Result, benchmark, median
from bench.synthetic import FIELDS, SEED, Row, synthetic_customer
from bench.synthetic import check as _check
from bench.synthetic import random_case as _random_case
from bench.synthetic import rows as _rows
from vault.crypto.envelope import KeyRing
from vault.crypto.keys import FileKeyProvider
from vault.crypto.rotation import key_status, rotate_master_key
from vault.customers.catalogue import Catalogue, load_catalogue
from vault.customers.data_keys import CustomerDataKeys
from vault.customers.service import CustomerStore
from vault.db import create_db_engine

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from sqlalchemy_utils import StringEncryptedType
    from sqlalchemy_utils.types.encrypted.encrypted_type import AesGcmEngine

CREATE_CUSTOMERS, CREATE_BATCH = 2_000, 100
READ_POPULATION, READ_PAGE, READ_REPEAT = 5_000, 100, 200
SEARCH_BATCH, SEARCHES, WARMUP = 1_000, 500, 20
ROTATION_SAMPLE = 200
EACH_OFFSET = 5_000_000  # synthetic ids of the one-call-each create contender


# --- the baselines: their own metadata, in the vault's database file -----------------------


class BaselineBase(DeclarativeBase):
    metadata = sa.MetaData()


_SU_KEY = secrets.token_hex(32)


def _baseline(table: str, column_type: Callable[[], sa.types.TypeEngine[Any]]) -> Any:
    """An ORM model with an integer id and the ten fields, each a ``column_type()`` column."""
    attrs: dict[str, Any] = {
        "__tablename__": table,
        "id": mapped_column(sa.Integer, primary_key=True),
    }
    attrs.update({name: mapped_column(column_type()) for name in FIELDS})
    return type(table, (BaselineBase,), attrs)


def _su_column() -> sa.types.TypeEngine[Any]:
    return StringEncryptedType(sa.Unicode, _SU_KEY, AesGcmEngine)


Plain = _baseline("bench_plain_customers", sa.Text)
Sealed = _baseline("bench_sqlalchemy_utils_customers", _su_column)
# The same two, written by a create path that validates its input as the API contract
# requires (a Flask team's endpoint would, with the same libraries): the fair comparison
# for the vault's create, which validates every value.
PlainValidated = _baseline("bench_plain_validated_customers", sa.Text)
SealedValidated = _baseline("bench_sqlalchemy_utils_validated_customers", _su_column)


@contextmanager
def _quiet() -> Iterator[None]:
    """sqlalchemy-utils may warn about deprecations; hush them here only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _orm_insert(session: Session, model: Any, rows: list[Row]) -> None:
    """One baseline transaction: customer ``i`` gets id ``i + 1``, interests as JSON text."""
    for i, _region, fields in rows:
        session.add(model(id=i + 1, **{**fields, "interests": json.dumps(fields["interests"])}))
    session.commit()


def _orm_insert_validated(
    session: Session, model: Any, catalogue: Catalogue, rows: list[Row]
) -> None:
    """The baseline with the vault's validation (email-validator, phonenumbers...) first."""
    for i, _region, fields in rows:
        normalised = catalogue.validate(fields, partial=False)
        session.add(model(id=i + 1, **{n: v.stored for n, v in normalised.items() if v}))
    session.commit()


# --- the vault -------------------------------------------------------------------------------


@dataclasses.dataclass
class Vault:
    engine: Engine
    provider: FileKeyProvider
    ids: list[str] = dataclasses.field(default_factory=list)  # ids[i]: synthetic customer i


def _open_vault(context: Context, name: str) -> Vault:
    with context.sqlite_vault(name) as url:
        engine = create_db_engine(url)
    BaselineBase.metadata.create_all(engine)
    return Vault(engine, FileKeyProvider.create(context.workdir / f"{name}.keys.json"))


def _store(session: Session, vault: Vault, catalogue: Catalogue) -> CustomerStore:
    """What one request gets: a fresh key ring, so data keys are unwrapped again."""
    return CustomerStore(session, KeyRing(vault.provider), catalogue, now=dt.datetime.now(dt.UTC))


def _vault_insert(session: Session, vault: Vault, catalogue: Catalogue, rows: list[Row]) -> None:
    """One vault transaction creating ``rows`` (create_many), commit included: the same unit
    of work as the baselines' add-and-commit of a batch."""
    store = _store(session, vault, catalogue)
    vault.ids.extend(store.create_many([(fields, region) for _i, region, fields in rows]))
    session.commit()


def _vault_insert_each(
    session: Session, vault: Vault, catalogue: Catalogue, rows: list[Row]
) -> None:
    """The same batch through one ``create`` call per customer (as the API's POST does)."""
    store = _store(session, vault, catalogue)
    for _i, region, fields in rows:
        store.create(fields, region=region)
    session.commit()


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def _rotated(names: list[str], n: int) -> list[str]:
    """The contenders in a different order each repetition: none always goes first."""
    return names[n % len(names) :] + names[: n % len(names)]


@benchmark("records.create")
def create(context: Context) -> list[Result]:
    vault = _open_vault(context, "records-create")
    totals = dict.fromkeys(
        [
            "vault",
            "vault, one call each",
            "plain",
            "sqlalchemy-utils",
            "plain+v",
            "sqlalchemy-utils+v",
        ],
        0.0,
    )
    with _quiet(), Session(vault.engine) as session:
        catalogue = load_catalogue(session)
        contenders = {
            "vault": lambda batch: _vault_insert(session, vault, catalogue, batch),
            "vault, one call each": lambda batch: _vault_insert_each(
                session, vault, catalogue, batch
            ),
            "plain": lambda batch: _orm_insert(session, Plain, batch),
            "sqlalchemy-utils": lambda batch: _orm_insert(session, Sealed, batch),
            "plain+v": lambda batch: _orm_insert_validated(
                session, PlainValidated, catalogue, batch
            ),
            "sqlalchemy-utils+v": lambda batch: _orm_insert_validated(
                session, SealedValidated, catalogue, batch
            ),
        }

        def batch_for(name: str, start: int) -> list[Row]:
            # The one-call-each contender gets other customers (ids offset): the same shape of
            # data, but emails that do not collide with those "vault" already created.
            offset = EACH_OFFSET if name == "vault, one call each" else 0
            return _rows(range(start + offset, start + offset + CREATE_BATCH))

        for name, fn in contenders.items():  # warm-up, not counted: customers beyond the N
            fn(batch_for(name, CREATE_CUSTOMERS))
        for n, start in enumerate(range(0, CREATE_CUSTOMERS, CREATE_BATCH)):
            for name in _rotated(list(contenders), n):
                rows = batch_for(name, start)  # generated before the clock starts
                seconds, _ = _timed(contenders[name], rows)
                totals[name] += seconds
    vault.engine.dispose()
    us = {name: total / CREATE_CUSTOMERS * 1e6 for name, total in totals.items()}
    ratio = us["vault"] / us["sqlalchemy-utils+v"]
    result = functools.partial(Result, "records.create")
    return [
        result("vault CustomerStore.create_many, per customer", us["vault"], "µs"),
        result(
            "vault CustomerStore.create, one call each, per customer",
            us["vault, one call each"],
            "µs",
        ),
        result("plain ORM insert, per customer (no validation)", us["plain"], "µs"),
        result(
            "sqlalchemy-utils insert, per customer (no validation)", us["sqlalchemy-utils"], "µs"
        ),
        result("plain ORM insert, validated, per customer", us["plain+v"], "µs"),
        result("sqlalchemy-utils insert, validated, per customer", us["sqlalchemy-utils+v"], "µs"),
        result(
            "vault / sqlalchemy-utils, both validating",
            ratio,
            "x",
            "≤ 1.0x sqlalchemy-utils",
            ratio <= 1.0,
        ),
        result(
            "vault / sqlalchemy-utils without validation", us["vault"] / us["sqlalchemy-utils"], "x"
        ),
        result("vault / plain, both validating", us["vault"] / us["plain+v"], "x"),
    ]


def _check_page(contender: str, picks: list[int], rows: list[list[Any]]) -> None:
    """Every contender must return the values it was given (baselines keep JSON text)."""
    for i, row in zip(picks, rows, strict=True):
        values = dict(zip(FIELDS, row, strict=True))
        if isinstance(values["interests"], str):
            values["interests"] = json.loads(values["interests"])
        _check(values == synthetic_customer(i)[1], f"{contender} read-back")


@benchmark("records.read")
def read(context: Context) -> list[Result]:
    vault = _open_vault(context, "records-read")
    with _quiet(), Session(vault.engine) as session:
        catalogue = load_catalogue(session)
        for start in range(0, READ_POPULATION, 500):
            rows = _rows(range(start, min(start + 500, READ_POPULATION)))
            _vault_insert(session, vault, catalogue, rows)
            _orm_insert(session, Plain, rows)
            _orm_insert(session, Sealed, rows)

        def vault_page(picks: list[int]) -> list[list[Any]]:
            records = _store(session, vault, catalogue).read([vault.ids[i] for i in picks], FIELDS)
            return [[r.values[name] for name in FIELDS] for r in records]

        def orm_page(model: Any) -> Callable[[list[int]], list[list[Any]]]:
            def page(picks: list[int]) -> list[list[Any]]:
                rows = session.scalars(sa.select(model).where(model.id.in_([i + 1 for i in picks])))
                by_id = {row.id: [getattr(row, name) for name in FIELDS] for row in rows.all()}
                return [by_id[i + 1] for i in picks]

            return page

        contenders = {
            "vault": vault_page,
            "plain": orm_page(Plain),
            "sqlalchemy-utils": orm_page(Sealed),
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        rng = random.Random(SEED)
        for n in range(WARMUP + READ_REPEAT):
            picks = rng.sample(range(READ_POPULATION), READ_PAGE)
            for name in _rotated(list(contenders), n):
                session.expunge_all()  # no identity-map hits across repetitions
                seconds, rows = _timed(contenders[name], picks)
                if n == 0:
                    _check_page(name, picks, rows)
                if n >= WARMUP:
                    samples[name].append(seconds)
        session.rollback()
    vault.engine.dispose()
    us = {name: median(s) * 1e6 for name, s in samples.items()}
    to_su, to_plain = us["vault"] / us["sqlalchemy-utils"], us["vault"] / us["plain"]
    what = f"page of {READ_PAGE} x {len(FIELDS)} fields, median"
    result = functools.partial(Result, "records.read")
    return [
        result(f"vault read, {what}", us["vault"], "µs"),
        result(f"plain ORM, {what}", us["plain"], "µs"),
        result(f"sqlalchemy-utils, {what}", us["sqlalchemy-utils"], "µs"),
        result("vault / sqlalchemy-utils", to_su, "x", "≤ 0.5x", to_su <= 0.5),
        result("vault / plain", to_plain, "x", "≤ 3x", to_plain <= 3),
    ]


# --- one large vault for search and rotation -------------------------------------------------

_LARGE: dict[Path, Vault] = {}


def _large_vault(context: Context, caller: str) -> tuple[Vault, list[Result]]:
    """The shared large vault of this run, and (when this call built it) what building took."""
    vault = _LARGE.get(context.workdir)
    if vault is not None:
        return vault, []
    total = int(os.environ.get("BENCH_SEARCH_CUSTOMERS", "100000"))
    vault = _open_vault(context, "records-large")
    started = time.perf_counter()
    with Session(vault.engine) as session:
        catalogue = load_catalogue(session)
        for start in range(0, total, SEARCH_BATCH):
            rows = _rows(range(start, min(start + SEARCH_BATCH, total)))
            _vault_insert(session, vault, catalogue, rows)
            elapsed = time.perf_counter() - started
            if elapsed > 15 and (start // SEARCH_BATCH) % 10 == 9:
                done = start + SEARCH_BATCH
                sys.stderr.write(f"records: {done:,}/{total:,} customers, {elapsed:.0f} s\n")
    elapsed = time.perf_counter() - started
    _LARGE[context.workdir] = vault
    return vault, [
        Result(caller, f"setup: CustomerStore.create_many x {total:,}", elapsed, "s"),
        Result(caller, "setup: per customer (1,000 per commit)", elapsed / total * 1e6, "µs"),
    ]


@benchmark("records.search")
def search(context: Context) -> list[Result]:
    vault, results = _large_vault(context, "records.search")
    rng = random.Random(SEED + 1)
    samples = []
    with Session(vault.engine) as session:
        catalogue = load_catalogue(session)
        for n in range(WARMUP + SEARCHES):
            i = rng.randrange(len(vault.ids))
            email = _random_case(rng, synthetic_customer(i)[1]["email"])
            store = _store(session, vault, catalogue)  # per request; the lookup is timed
            seconds, found = _timed(store.search, "email", email)
            _check(found == [vault.ids[i]], "search result")
            if n >= WARMUP:
                samples.append(seconds)
        session.rollback()
    ms = median(samples) * 1e3
    what = f"email in random case among {len(vault.ids):,}, median"
    return [*results, Result("records.search", what, ms, "ms", "≤ 1 ms median", ms <= 1.0)]


@benchmark("records.rotation")
def rotation(context: Context) -> list[Result]:
    vault, results = _large_vault(context, "records.rotation")
    count = min(ROTATION_SAMPLE, len(vault.ids))
    sample = random.Random(SEED + 2).sample(range(len(vault.ids)), count)
    with Session(vault.engine) as session:
        catalogue = load_catalogue(session)
        session.commit()
        seconds, report = _timed(rotate_master_key, CustomerDataKeys(session), vault.provider)
        # Trust nothing in memory: read the key file again, then the sample back.
        provider = FileKeyProvider(vault.provider.path)
        status = key_status(CustomerDataKeys(session), provider)
        _check(report.rewrapped == len(vault.ids), "re-wrapped count")
        _check(status.pending == 0, "no data key left under the old master key")
        _check(status.current_version == report.version == 2, "master key version")
        store = CustomerStore(session, KeyRing(provider), catalogue, now=dt.datetime.now(dt.UTC))
        records = store.read([vault.ids[i] for i in sample], FIELDS)
        expected = [synthetic_customer(i)[1] for i in sample]
        _check([r.values for r in records] == expected, "values after rotation")
        session.rollback()
    rate = report.rewrapped / seconds
    result = functools.partial(Result, "records.rotation")
    return [
        *results,
        result(f"rotate_master_key, {report.rewrapped:,} data keys", seconds, "s"),
        result("data keys re-wrapped per second", rate, "/s", "≥ 20,000/s", rate >= 20_000),
        result("customers read back unchanged after rotation", len(records), "customers"),
    ]
