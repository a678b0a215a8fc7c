"""Fuzzing every operation of the OpenAPI document (bench.fuzzing), bounded for the suite."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from flask import Flask

from bench import corpus
from bench.fuzzing import Tally, World, fuzz_operation, openapi_document, operations, seed
from vault.app import create_app

EXAMPLES = 6  # generated cases per operation, each sent as every caller


def _document() -> dict[str, Any]:
    """The OpenAPI document, at collection (serving it reads no database)."""
    with tempfile.TemporaryDirectory(prefix="vault-openapi-") as tmp:
        app = create_app({"env": "testing", "database_url": f"sqlite:///{tmp}/unused.db",
                          "instance_path": tmp, "secret_key": "d" * 40})  # fmt: skip
        return openapi_document(app)


DOCUMENT = _document()
# the operations by their tag: one test (one seeded vault) per tag, so that xdist shares
# them out and seeding stays a small part of the time
TAGS: dict[str, list[Any]] = {}
for _operation in operations(DOCUMENT):
    TAGS.setdefault(_operation.tags[0] if _operation.tags else "", []).append(_operation)


@pytest.fixture
def world(app: Flask) -> World:
    return seed(app)


def test_the_document_is_the_apps(app: Flask) -> None:
    assert openapi_document(app) == DOCUMENT
    assert sum(len(ops) for ops in TAGS.values()) > 40


@pytest.mark.parametrize("tag", sorted(TAGS))
def test_every_operation_as_every_role(app: Flask, world: World, tag: str) -> None:
    """Generated calls (valid and invalid) of each operation, each sent as every shipped
    role: no server error, and every error a problem."""
    tally = Tally()
    for operation in TAGS[tag]:
        fuzz_operation(app, world, operation, max_examples=EXAMPLES, tally=tally)
    assert tally.requests >= len(TAGS[tag]) * len(world.callers)
    assert not tally.findings, tally.summary()


@pytest.mark.parametrize("kinds", [("text",), ("numbers", "verbs"), ("structure",)])
def test_the_bad_input_corpus_on_every_operation(
    app: Flask, world: World, kinds: tuple[str, ...]
) -> None:
    """bench.corpus: the same bad input across every route, each refused as it should be."""
    tally = Tally()
    corpus.send(app, world, kinds, tally)
    assert tally.requests > len(TAGS)
    assert not tally.findings, tally.summary(limit=60)
