"""The portal and its e-mails in English, Turkish, Polish and Persian: chosen with ``?lang=``
(and kept), else by ``Accept-Language``; Persian right to left; no text of the portal
missing from a catalogue, and every compiled catalogue up to date with its source."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import code_in, form_token, messages
from vault.languages import LANGUAGES, TRANSLATIONS

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [language for language in LANGUAGES if language != "en"]


def _texts() -> set[str]:
    """Every text the portal's templates and code mark for translation (as ``babel.cfg``
    says where to look)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    keywords = {"_": None, "gettext": None, "lazy_gettext": None}
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)
    return {message if isinstance(message, str) else message[0]
            for _file, _line, message, _comments, _context in found}  # fmt: skip


@pytest.mark.parametrize("language", TRANSLATED)
def test_no_text_is_missing_and_the_compiled_catalogue_is_current(language: str) -> None:
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as source:
        catalogue = read_po(source)
    translated = {m.id: m.string for m in catalogue if m.id}
    texts = _texts()
    assert len(texts) > 30
    missing = sorted(t for t in texts if not translated.get(t))
    assert missing == [], f"{language} lacks: {missing}"
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    assert compiled.getvalue() == (folder / "messages.mo").read_bytes(), (
        f"vault/translations/{language}/LC_MESSAGES/messages.mo is older than its .po: "
        "compile it (pybabel compile -d vault/translations)"
    )
    for text, translation in translated.items():  # placeholders kept as they are
        marks = re.findall(r"%\(\w+\)\w", str(text))
        assert sorted(marks) == sorted(re.findall(r"%\(\w+\)\w", str(translation))), text


def test_a_language_is_chosen_kept_and_persian_reads_right_to_left(client: FlaskClient) -> None:
    persian = client.get("/privacy?lang=fa")
    html = persian.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html
    assert "داده‌های شما" in html
    assert "vault_language=fa" in persian.headers["Set-Cookie"]
    kept = client.get("/privacy").get_data(as_text=True)  # the cookie: still Persian
    assert '<html lang="fa" dir="rtl">' in kept
    polish = client.get("/privacy?lang=pl").get_data(as_text=True)
    assert '<html lang="pl" dir="ltr">' in polish
    assert "Wyślij mi kod" in polish
    assert 'href="?lang=tr"' in polish  # the switcher offers the others
    unknown = client.get("/privacy?lang=xx").get_data(as_text=True)
    assert '<html lang="pl"' in unknown  # an unknown language changes nothing


def test_the_browser_language_counts_when_none_is_chosen(app: Flask) -> None:
    turkish = app.test_client().get("/privacy", headers={"Accept-Language": "tr-TR,tr;q=0.9"})
    assert '<html lang="tr" dir="ltr">' in turkish.get_data(as_text=True)
    assert "Bana bir kod gönderin" in turkish.get_data(as_text=True)
    other = app.test_client().get("/privacy", headers={"Accept-Language": "ja-JP"})
    assert '<html lang="en" dir="ltr">' in other.get_data(as_text=True)
    admin = app.test_client().get("/admin/login", headers={"Accept-Language": "fa"})
    assert '<html lang="en" dir="ltr">' in admin.get_data(as_text=True)  # English only


def test_the_code_is_mailed_in_the_language_of_the_request(
    app: Flask, client: FlaskClient, customer_id: str
) -> None:
    page = client.get("/privacy?lang=pl").get_data(as_text=True)
    sent = client.post("/privacy/requests", data={
        "email": "Jeanne.Dupont@Example.org", "type": "export",
        "csrf_token": form_token(page)})  # fmt: skip
    assert sent.status_code == 202
    assert "czeka na Twój kod" in sent.get_data(as_text=True)
    (message,) = messages(app)
    assert message["Subject"] == "Twój kod potwierdzający"
    body = message.get_body(("plain",))
    assert body is not None
    assert "poprosił o kopię Twoich danych" in body.get_content()
    assert len(code_in(message)) == 8  # the code still alone on its line
    wrong = client.post(_verify_url(sent.get_data(as_text=True)),
                        data={"code": "00000000", "csrf_token": form_token(page)})  # fmt: skip
    assert "Kod jest błędny lub wygasł" in wrong.get_data(as_text=True)


def _verify_url(html: str) -> str:
    found = re.search(r'action="(/privacy/requests/[^"]+/verify)"', html)
    assert found is not None
    return found[1]


def test_a_malformed_address_is_named_beside_its_field_in_the_pages_language(
    client: FlaskClient,
) -> None:
    page = client.get("/privacy?lang=tr").get_data(as_text=True)
    sent = client.post("/privacy/requests", data={
        "email": "not-an-address", "type": "export", "csrf_token": form_token(page)})  # fmt: skip
    assert sent.status_code == 422
    html = sent.get_data(as_text=True)
    assert '<html lang="tr" dir="ltr">' in html
    assert 'id="email-error">ad@ornek.com gibi bir e-posta adresi girin.<' in html
    assert 'value="not-an-address"' in html  # nothing typed is lost
    assert "Unprocessable" not in html
    assert "admin.css" not in html  # the portal's own page, not the staff's


def test_an_unknown_request_is_the_portals_own_page(client: FlaskClient) -> None:
    missing = client.get("/privacy/requests/prq_nothing?lang=pl",
                         headers={"Accept": "text/html"})  # fmt: skip
    assert missing.status_code == 404
    html = missing.get_data(as_text=True)
    assert "Ta prośba nie istnieje albo jej link wygasł." in html
    assert "privacy.css" in html
    assert "Not Found" not in html
