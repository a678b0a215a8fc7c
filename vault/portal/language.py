"""Which language the privacy portal answers in: ``?lang=`` (kept in a cookie, so that the
next page speaks it too), then the browser's ``Accept-Language``, then English. Pages outside
the portal are in English (the admin UI is written to be translatable, not translated)."""

from __future__ import annotations

from flask import Flask, Response
from flask_babel import Babel, get_locale

from vault.contexts import current_request
from vault.languages import DEFAULT, LANGUAGES, TRANSLATIONS, chosen, direction, name_of

LANGUAGE_COOKIE = "vault_language"
PORTAL = "/privacy"


def portal_language() -> str:
    """flask-babel's locale selector (see the module)."""
    request = current_request()
    if not request.path.startswith(PORTAL):
        return DEFAULT
    return (
        chosen(request.args.get("lang"))
        or chosen(request.cookies.get(LANGUAGE_COOKIE))
        or request.accept_languages.best_match(LANGUAGES)
        or DEFAULT
    )


def current_language() -> str:
    """The language of this request's answer."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT


def page_language() -> dict[str, object]:
    """What the portal's pages need of their language: ``lang``, ``dir`` and the switcher."""
    language = current_language()
    return {
        "page_language": language,
        "page_direction": direction(language),
        "languages": [(code, name_of(code)) for code in LANGUAGES],
    }


def keep_language(response: Response) -> Response:
    """A language chosen with ``?lang=`` is kept for the portal's next pages."""
    asked = chosen(current_request().args.get("lang"))
    if asked:
        response.set_cookie(LANGUAGE_COOKIE, asked, max_age=365 * 86400, path=PORTAL,
                            samesite="Lax", httponly=True)  # fmt: skip
    return response


def init_languages(app: Flask) -> None:
    """flask-babel over the vault's catalogues; every page knows its language (the portal's
    error pages are rendered outside its blueprint)."""
    Babel(app, locale_selector=portal_language,
          default_translation_directories=str(TRANSLATIONS))  # fmt: skip
    app.context_processor(page_language)
