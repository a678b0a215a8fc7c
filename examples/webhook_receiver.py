"""A consumer system's end of Vault's webhooks, in a few lines of Flask.

It checks each delivery's signature with the `standardwebhooks` package, handles each event
once (a delivery may come twice: Vault delivers at least once), and acknowledges an erasure
once its copy is gone, so that the customer's erasure certificate shows it.

    WEBHOOK_SECRET=whsec_... VAULT_URL=http://127.0.0.1:5000 VAULT_TOKEN=... \\
        flask --app examples/webhook_receiver.py run --port 8000

Each event handled is appended to EVENTS_FILE (default events.jsonl), one JSON line each.
What the system keeps of each customer (here: the ids of the events it heard about it) is in
COPIES_FILE (default copies.json); an erasure removes the customer's entry before it is
acknowledged.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request

from flask import Flask, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

app = Flask(__name__)
hook = Webhook(os.environ["WEBHOOK_SECRET"])
events_file = os.environ.get("EVENTS_FILE", "events.jsonl")
copies_file = os.environ.get("COPIES_FILE", "copies.json")
copies_lock = threading.Lock()  # deliveries come in on threads of their own
handled: set[str] = set()


@app.post("/hooks")
def receive() -> tuple[str, int]:
    try:
        event = hook.verify(request.get_data(), dict(request.headers))
    except WebhookVerificationError:
        return "bad signature", 400
    if event["id"] in handled:  # delivered again: already done
        return "", 204
    if event["type"] == "customer.erased":
        delete_copy(event["customer_id"])
        acknowledge(event["id"])
    else:
        keep_copy(event["customer_id"], event["id"])
    with open(events_file, "a", encoding="utf-8") as out:
        out.write(json.dumps(event) + "\n")
    handled.add(event["id"])
    return "", 204


def _copies() -> dict[str, list[str]]:
    if not os.path.exists(copies_file):
        return {}
    with open(copies_file, encoding="utf-8") as found:
        copies: dict[str, list[str]] = json.load(found)
        return copies


def _save(copies: dict[str, list[str]]) -> None:
    with open(copies_file, "w", encoding="utf-8") as out:
        json.dump(copies, out)


def keep_copy(customer_id: str, event_id: str) -> None:
    with copies_lock:
        copies = _copies()
        copies.setdefault(customer_id, []).append(event_id)
        _save(copies)


def delete_copy(customer_id: str) -> None:
    """Delete what the system keeps of the customer."""
    with copies_lock:
        copies = _copies()
        copies.pop(customer_id, None)
        _save(copies)


def acknowledge(event_id: str) -> None:
    """Tell Vault the copy is gone (``POST /api/v1/events/{id}/ack``)."""
    if not os.environ.get("VAULT_URL"):
        return
    ack = urllib.request.Request(  # noqa: S310  (the vault's own URL, from the environment)
        f"{os.environ['VAULT_URL']}/api/v1/events/{event_id}/ack", method="POST",
        headers={"Authorization": f"Bearer {os.environ['VAULT_TOKEN']}"},
    )  # fmt: skip
    urllib.request.urlopen(ack, timeout=10).close()  # noqa: S310
