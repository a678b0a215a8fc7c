"""The languages the privacy portal and its e-mails speak: English, Turkish, Polish and
Persian (right to left). Their gettext catalogues live in ``vault/translations`` (the
``.po`` files are the source; the ``.mo`` beside them are compiled from them, and a test
holds the two together). Domain code translates with ``gettext(language, text)``, given the
language as a parameter; the portal's pages get theirs from flask-babel over the same
catalogues."""

from __future__ import annotations

import functools
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "tr", "pl", "fa")
DEFAULT = "en"
RIGHT_TO_LEFT = frozenset({"fa"})
TRANSLATIONS = Path(__file__).parent / "translations"


def direction(language: str) -> str:
    """``rtl`` or ``ltr``, for a page's ``dir``."""
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def name_of(language: str) -> str:
    """The language's own name for itself (``Türkçe``, ``فارسی``), for the switcher."""
    return str(Locale.parse(language).get_display_name(language) or language).capitalize()


def chosen(asked: str | None) -> str | None:
    """``asked`` if it is one of ``LANGUAGES`` (a region such as ``tr-TR`` counts as its
    language), otherwise None."""
    if not asked:
        return None
    try:
        language = Locale.parse(asked.strip().replace("-", "_")).language
    except (ValueError, UnknownLocaleError):
        return None
    return language if language in LANGUAGES else None


@functools.cache
def _catalogue(language: str) -> NullTranslations:
    if language == DEFAULT:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [language])


def gettext(language: str, text: str) -> str:
    """``text`` in ``language`` (unchanged for English, or when a catalogue lacks it)."""
    return _catalogue(language if language in LANGUAGES else DEFAULT).gettext(text)
