"""What the privacy desk sends and signs: the texts of its messages, and HMAC signatures of
deletion certificates and export manifests under a key derived from the master key."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from vault.customers.service import CustomerStore
from vault.languages import gettext

SIGNING_KEY_LABEL = "vault privacy signatures v1"


def sign(store: CustomerStore, document: dict[str, Any]) -> str:
    """HMAC-SHA256 of ``document`` in canonical JSON, under a key derived from the master
    key: the vault can later tell a genuine certificate or export manifest from a forged
    or altered one."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    key = store.keyring.derived_key(SIGNING_KEY_LABEL)
    return hmac.new(key, b"vault signed document v1\x00" + canonical, hashlib.sha256).hexdigest()


def signature_holds(store: CustomerStore, signed: dict[str, Any]) -> bool:
    """Whether ``signed`` (a document with its ``signature``) is unaltered."""
    signature = signed.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("value"), str):
        return False
    document = {k: v for k, v in signed.items() if k != "signature"}
    return hmac.compare_digest(sign(store, document), signature["value"])


def deletion_certificate(
    store: CustomerStore, request_id: str, customer_id: str, destroyed: dict[str, Any], *,
    erased_at: dt.datetime,
) -> str:  # fmt: skip
    """The signed deletion certificate of an erasure (JSON): what was destroyed, what was
    kept, signed with ``sign``."""
    certificate: dict[str, Any] = {
        "certificate": "vault deletion certificate v1",
        "request_id": request_id,
        "customer_id": customer_id,
        "erased_at": erased_at.isoformat(),
        "destroyed": destroyed,
        "kept": ["a tombstone: the customer id, region and times", "the audit trail"],
    }
    certificate["signature"] = {"algorithm": "HMAC-SHA256", "value": sign(store, certificate)}
    return json.dumps(certificate, sort_keys=True)


def certificate_as_of(
    store: CustomerStore, stored: str, recipients: list[dict[str, Any]], *, now: dt.datetime
) -> dict[str, Any]:
    """The deletion certificate ``stored`` at the erasure, with the systems that were told
    of it and when each acknowledged (``recipients``), signed anew as of ``now``. A stored
    certificate whose signature does not hold is given as it is, never signed again."""
    certificate: dict[str, Any] = json.loads(stored)
    if not signature_holds(store, certificate):
        return certificate
    document = {k: v for k, v in certificate.items() if k != "signature"}
    document["recipients"] = recipients
    document["as_of"] = now.isoformat()
    document["signature"] = {"algorithm": "HMAC-SHA256", "value": sign(store, document)}
    return document


@dataclasses.dataclass(frozen=True, slots=True)
class Organisation:
    """Who writes to the customer (settings): signed under every message."""

    name: str = "Vault"
    contact: str = ""
    dpo: str = ""

    def signature(self, language: str) -> str:
        """The lines that end a message, in ``language``."""
        lines = ["-- ", self.name]
        if self.contact:
            lines.append(f"{gettext(language, 'Contact:')} {self.contact}")
        if self.dpo:
            lines.append(f"{gettext(language, 'Data-protection officer:')} {self.dpo}")
        return "\n".join(lines) + "\n"


def code_message(
    kind: str, code: str, valid_minutes: int, page: str, language: str = "en"
) -> tuple[str, str]:
    """The subject and body of the message with a one-time code (the code alone on a line)
    and the address of the request's page, in ``language``."""

    def _(text: str) -> str:
        return gettext(language, text)

    what = {"export": _("a copy of your data"), "erasure": _("the erasure of your data"),
            "withdraw_consent": _("the withdrawal of your consent")}[kind]  # fmt: skip
    body = "\n".join([
        _("Someone, hopefully you, asked for %(what)s.") % {"what": what},
        _("To confirm it is you, enter this code on the page of your request:"),
        "", code, "", page, "",
        _("The code is valid for %(minutes)d minutes.") % {"minutes": valid_minutes},
        _("If you did not ask for this, ignore this message: nothing will happen."),
        "",
    ])  # fmt: skip
    return _("Your confirmation code"), body


def download_message(path: str, language: str = "en") -> tuple[str, str]:
    """The subject and body of the message with an export's one-time link, in
    ``language``."""

    def _(text: str) -> str:
        return gettext(language, text)

    ready = _("As you asked, a copy of your data is ready. Download it once, within 7 days, at:")
    return _("Your data export"), f"{ready}\n\n{path}\n"
