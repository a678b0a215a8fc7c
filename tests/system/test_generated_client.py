"""A client generated from the served OpenAPI document (openapi-python-client), as an
integrator would generate one, works against the served vault: it is generated without a
warning, reads a customer, and parses the vault's 404 and 422 as the documented problems."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask

from tests.helpers import SAMPLE_FIELDS
from tests.support.served import served_vault
from vault.auth.service import create_api_client
from vault.clock import FixedClock
from vault.db import db

pytestmark = pytest.mark.slow
PACKAGE = "generated_vault_api"


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Callable[[str], ModuleType]]:
    """Generate the package from the document at a URL and import one of its modules."""

    def generate(url: str) -> ModuleType:
        spec = tmp_path / "openapi.json"
        with urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=10) as answer:  # noqa: S310  (127.0.0.1)
            spec.write_bytes(answer.read())
        config = tmp_path / "generator.json"
        config.write_text(json.dumps({"post_hooks": []}), encoding="utf-8")
        tool = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
        assert tool is not None
        done = subprocess.run(
            [tool, "generate", "--path", str(spec), "--meta", "none", "--config", str(config),
             "--output-path", str(tmp_path / PACKAGE)],
            capture_output=True, text=True, check=False, cwd=tmp_path,
        )  # fmt: skip
        said = done.stdout + done.stderr
        assert done.returncode == 0, said
        assert "Warning" not in said, said  # every schema of the document was understood
        sys.path.insert(0, str(tmp_path))
        return importlib.import_module(PACKAGE)

    yield generate
    sys.path[:] = [p for p in sys.path if p != str(tmp_path)]
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_reads_and_parses_the_problems(
    make_app: Callable[..., Flask], tmp_path: Path, clock: FixedClock,
    generated: Callable[[str], ModuleType],
) -> None:  # fmt: skip
    app = make_app()
    with app.app_context(), db.transaction() as session:
        _client, token = create_api_client(session, name="crm", role="sales", now=clock.now())
    with served_vault(app, tmp_path / "serve.log") as url:
        package = generated(url)
        client = package.AuthenticatedClient(base_url=url, token=token)
        create = _module("api.customers.post_api_v1_customers")
        read = _module("api.customers.get_api_v1_customers_customer_id")
        models = _module("models")

        made = create.sync_detailed(
            client=client, x_purpose="sales",
            body=models.Create.from_dict({"fields": SAMPLE_FIELDS, "region": "EU"}),
        )  # fmt: skip
        assert made.status_code == 201
        assert isinstance(made.parsed, models.CustomerView)
        customer_id = made.parsed.id
        shown = read.sync_detailed(customer_id, client=client, x_purpose="sales")
        assert isinstance(shown.parsed, models.CustomerView)
        assert shown.parsed.fields["email"].transform == "none"

        missing = read.sync_detailed("cus_" + "0" * 32, client=client, x_purpose="sales")
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem)
        assert (missing.parsed.status, missing.parsed.code) == (404, "not_found")
        assert missing.parsed.request_id == missing.headers["X-Request-ID"]

        invalid = create.sync_detailed(
            client=client, x_purpose="sales",
            body=models.Create.from_dict({"fields": {**SAMPLE_FIELDS, "email": "nope"},
                                          "region": "EU"}),
        )  # fmt: skip
        assert invalid.status_code == 422
        assert isinstance(invalid.parsed, models.Problem)
        assert invalid.parsed.code == "validation_failed"
        assert "email" in invalid.parsed.errors.to_dict()
        assert "nope" not in json.dumps(invalid.parsed.to_dict())
