"""Language helpers: the reader's locale, and scenario text fields ({en: …, zh: …} or plain)."""
import os
import uuid
from pathlib import Path

from flask import current_app, has_request_context, request, session
from flask_babel import get_locale

TRANSLATIONS = Path(__file__).resolve().parent / "translations"

# The languages the lab is shown in, each with the name it calls itself (the switcher's button).
# Every language list reads this one: the app's LANGUAGES setting, the switcher, the scenario
# validator, `lab translations` and tests/test_translations.py. To add a language, add it here
# and run `flask --app run lab translations`: that makes its catalog, and the translations test
# fails until every string in it is translated.
LANGUAGES = {"zh": "中文", "en": "English"}
# The msgids are written in English: it has no catalog (Flask-Babel shows the msgid itself).
SOURCE_LANGUAGE = "en"
# What a reader sees before choosing (and what the browser does not ask for).
DEFAULT_LANGUAGE = "zh"


def translated_languages() -> list[str]:
    """The languages that need a catalog: every one but the source language."""
    return [code for code in LANGUAGES if code != SOURCE_LANGUAGE]


def catalog_path(code: str) -> Path:
    return TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"


def compile_catalogs(directory: Path = TRANSLATIONS) -> None:
    """Compile each messages.po into messages.mo when the .mo is missing or older, so a fresh
    clone needs no manual `pybabel compile`."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    for po in directory.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source)
        # Several processes may start at once: each writes its own file, then renames it into
        # place atomically.
        tmp = mo.with_name(f"{mo.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        with tmp.open("wb") as target:
            write_mo(target, catalog)
        tmp.replace(mo)


def select_locale() -> str:
    languages = list(current_app.config["LANGUAGES"])
    if has_request_context():
        chosen = session.get("lang")
        if chosen in languages:
            return chosen
        best = request.accept_languages.best_match(languages)
        if best:
            return best
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    try:
        return str(get_locale() or DEFAULT_LANGUAGE)[:2]
    except (RuntimeError, KeyError):
        return DEFAULT_LANGUAGE


def text(value, lang: str | None = None) -> str:
    """A scenario text field in the reader's language, else the default language's, else the
    source language's, else any."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        lang = lang or current_language()
        for key in (lang, DEFAULT_LANGUAGE, SOURCE_LANGUAGE):
            if value.get(key):
                return str(value[key])
        return next((str(v) for v in value.values() if v), "")
    return str(value)


def money(cents: int | None) -> str:
    """176.00 for 17600 cents (fen)."""
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d}"
