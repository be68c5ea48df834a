"""Language helpers: the reader's locale, and scenario text fields ({en: …, zh: …} or plain)."""
from flask import current_app, has_request_context, request, session
from flask_babel import get_locale


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
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
        return str(get_locale() or "zh")[:2]
    except (RuntimeError, KeyError):
        return "zh"


def text(value, lang: str | None = None) -> str:
    """A scenario text field in the reader's language, falling back to the other one."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        lang = lang or current_language()
        for key in (lang, "zh", "en"):
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
