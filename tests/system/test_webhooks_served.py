"""Webhooks end to end, as a consumer system meets them: `vault serve` relays its events to
the example receiver (examples/webhook_receiver.py) running in a process of its own, which
verifies each signature with the standardwebhooks package and acknowledges erasures."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from tests.helpers import SAMPLE_FIELDS, code_in, messages
from tests.support.ports import free_port
from tests.support.served import served_command, served_vault
from vault import runtime
from vault.auth.service import create_api_client
from vault.db import db
from vault.policies.plan import Rule
from vault.policies.service import add_rules, create_role

EXAMPLE = Path(__file__).parents[2] / "examples" / "webhook_receiver.py"


def call(url: str, method: str = "GET", body: Any = None, **headers: str) -> tuple[int, Any]:
    """The status and the JSON body (or text) of a request to a local server."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json", **headers}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310  (127.0.0.1)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, _decoded(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, _decoded(refused.read())


def _decoded(text: bytes) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text.decode()


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


def tokens(app: Flask) -> dict[str, str]:
    """An admin, the CRM (sales; it also records marketing opt-ins) and the mailing tool
    (marketing, which sees only customers who consented)."""
    with app.app_context():
        create_role(db.session, name="crm_optin", description="sales, and marketing opt-ins",
                    purposes=["sales", "marketing"], inherits=["sales"])  # fmt: skip
        add_rules(db.session, [Rule("crm_optin", "interests", "marketing", "write", "allow")])
        made = {
            name: create_api_client(db.session, name=name, role=role, now=runtime.now())[1]
            for name, role in (("ops", "admin"), ("crm", "crm_optin"), ("mailer", "marketing"))
        }
        db.session.commit()
        return made


@contextmanager
def example_receiver(tmp_path: Path, name: str, secret: str, port: int,
                     **env: str) -> Iterator[Path]:  # fmt: skip
    """The example receiver on ``port``; yields the file of the events it handled (what it
    keeps of each customer is in the file beside it, ``copies``)."""
    events = tmp_path / f"{name}.jsonl"
    flask = shutil.which("flask", path=str(Path(sys.executable).parent))
    assert flask is not None
    command = [flask, "--app", str(EXAMPLE), "run", "--port", str(port)]
    environment = {**os.environ, "WEBHOOK_SECRET": secret, "EVENTS_FILE": str(events),
                   "COPIES_FILE": str(copies(events)), **env}  # fmt: skip
    with served_command(command, environment, tmp_path / f"{name}.log", port=port):
        yield events


def copies(events: Path) -> Path:
    return events.with_suffix(".copies.json")


def handled(events: Path) -> list[dict[str, Any]]:
    if not events.exists():
        return []
    return [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]


def eventually(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def test_a_customer_created_withdrawn_and_erased_reaches_the_example_receiver(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app()
    made = tokens(app)
    relay_fast = {"VAULT_EVENTS_RELAY_SECONDS": "0.1"}
    with served_vault(app, tmp_path / "serve.log", **relay_fast) as url:
        api = f"{url}/api/v1"
        ports = {"crm": free_port(), "mailer": free_port()}
        secrets = {}
        for name, port in ports.items():
            status, body = call(f"{api}/subscriptions", "POST", {
                "name": f"{name}-hooks", "url": f"http://127.0.0.1:{port}/hooks", "client": name,
                "events": ["customer.created", "consent.changed", "customer.erased"],
            }, **bearer(made["ops"]))  # fmt: skip
            assert status == 201, body
            secrets[name] = body["secret"]
        crm = bearer(made["crm"], **{"X-Purpose": "sales"})
        with (
            example_receiver(tmp_path, "crm", secrets["crm"], ports["crm"], VAULT_URL=url,
                             VAULT_TOKEN=made["crm"]) as crm_events,
            example_receiver(tmp_path, "mailer", secrets["mailer"], ports["mailer"]) as mailed,
        ):  # fmt: skip
            status, body = call(f"{api}/customers", "POST", {
                "fields": {**SAMPLE_FIELDS, "email": "leaving@example.org"}, "region": "EU",
                "consents": [{"purpose": "marketing", "granted": True}]}, **crm)  # fmt: skip
            assert status == 201, body
            leaving = body["id"]
            status, body = call(f"{api}/customers", "POST", {
                "fields": {**SAMPLE_FIELDS, "email": "quiet@example.org"}, "region": "EU"},
                **crm)  # fmt: skip
            assert status == 201, body
            quiet = body["id"]
            status, body = call(f"{api}/customers/{leaving}/consents", "POST", {
                "purpose": "marketing", "granted": False, "source": "preference-centre"},
                **crm)  # fmt: skip
            assert status in (200, 201), body
            # the erasure, through the portal
            status, asked = call(f"{url}/privacy/requests", "POST",
                                 {"email": "leaving@example.org", "type": "erasure"})  # fmt: skip
            assert status == 202, asked
            code = code_in(messages(app)[-1])
            status, done = call(f"{url}/privacy/requests/{asked['id']}/verify", "POST",
                                {"code": code})  # fmt: skip
            assert done["status"] == "completed", done

            def of(events: Path, customer_id: str) -> list[str]:
                return [e["type"] for e in handled(events) if e["customer_id"] == customer_id]

            expected = ["customer.created", "consent.changed", "customer.erased"]
            eventually(lambda: of(crm_events, leaving) == expected)
            # (in order per customer; across customers, in no promised order)
            eventually(lambda: of(crm_events, quiet) == ["customer.created"])
            # the CRM deleted its copy of the erased customer, and kept the other
            kept = json.loads(copies(crm_events).read_text(encoding="utf-8"))
            assert leaving not in kept
            assert len(kept[quiet]) == 1
            # the mailing tool saw the consent and its withdrawal, never the quiet customer
            eventually(lambda: of(mailed, leaving)[:2] == expected[:2])
            assert of(mailed, quiet) == []
            for event in handled(crm_events) + handled(mailed):
                assert "leaving@example.org" not in json.dumps(event)
                assert set(event["data"]) <= {"granted", "cause"}
            # a forged delivery is refused by the receiver
            forged = call(f"http://127.0.0.1:{ports['crm']}/hooks", "POST", {"type": "x"},
                          **{"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())),
                             "webhook-signature": "v1,AAAA"})  # fmt: skip
            assert forged[0] == 400

            # the certificate shows the CRM told, and its acknowledgement
            def certificate() -> dict[str, Any]:
                body: dict[str, Any] = call(f"{url}/privacy/requests/{asked['id']}",
                                            Accept="application/json")[1]  # fmt: skip
                return dict(body["certificate"])

            # (the receiver acknowledges before it answers: the relay records the delivery
            # just after the acknowledgement lands)
            eventually(lambda: any(r["acknowledged_at"] and r["status"] == "delivered"
                                   for r in certificate()["recipients"]))  # fmt: skip
            (told,) = [r for r in certificate()["recipients"] if r["system"] == "crm-hooks"]
            assert (told["status"], told["client"]) == ("delivered", "crm")
