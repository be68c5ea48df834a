"""Every user-facing string is translated into every language in LANGUAGES (lab/i18n.py) but the
source language, English, whose msgids are shown as they are (run `flask --app run lab
translations` after changing strings); and every language is one a reader can choose."""
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from lab.i18n import LANGUAGES, SOURCE_LANGUAGE, TRANSLATIONS, catalog_path
from tests.helpers import csrf_token

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "N_": None}
COMMAND = "flask --app run lab translations"


@cache
def source_msgids() -> frozenset[str]:
    method_map = [("lab/**.py", "python"), ("roles/**.py", "python"),
                  ("templates/**.html", "jinja2")]
    ids = set()
    # Only hidden folders are skipped (babel's default also skips templates/_partials/).
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, keywords=KEYWORDS,
            directory_filter=lambda path: not Path(path).name.startswith(".")):
        ids.add(message if isinstance(message, str) else message[0])
    return frozenset(ids)


def catalog_problems(languages) -> list[str]:
    """What keeps each language of `languages` from being shown whole, one line each."""
    problems = []
    for lang in languages:
        if lang == SOURCE_LANGUAGE:
            continue
        po = catalog_path(lang)
        if not po.exists():
            problems.append(f"{lang} is in LANGUAGES (lab/i18n.py) but has no catalog "
                            f"{po.relative_to(ROOT)}: run `{COMMAND}` and translate it")
            continue
        with po.open("rb") as f:
            catalog: Catalog = read_po(f)
        have = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog
                if m.id and m.string and all(m.string) and "fuzzy" not in m.flags}
        missing = sorted(source_msgids() - have)
        if missing:
            problems.append(f"{lang}: {len(missing)} strings untranslated in "
                            f"{po.relative_to(ROOT)} (run `{COMMAND}`): {missing[:10]}")
    return problems


def test_catalogs_cover_every_string_in_the_source():
    assert len(source_msgids()) > 300
    assert catalog_problems(LANGUAGES) == []


def test_a_language_added_without_a_catalog_is_named_with_what_to_do():
    problems = catalog_problems({**LANGUAGES, "xx": "Xx"})
    assert problems[-1] == (f"xx is in LANGUAGES (lab/i18n.py) but has no catalog "
                            f"lab/translations/xx/LC_MESSAGES/messages.po: run `{COMMAND}` "
                            f"and translate it")


def test_the_source_language_has_no_identity_catalog():
    """English is the language of the msgids: a catalog repeating them would only drift."""
    assert SOURCE_LANGUAGE in LANGUAGES
    assert not (TRANSLATIONS / SOURCE_LANGUAGE).exists()
    on_disk = {p.name for p in TRANSLATIONS.iterdir() if p.is_dir()}
    assert on_disk == set(LANGUAGES) - {SOURCE_LANGUAGE}, "a catalog for a language not shown"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_can_be_chosen_and_shows_itself(client, lang):
    """The switcher offers every language by its own name; choosing one shows the pages in it
    (English from the msgids themselves, the others from their catalogs)."""
    page = client.get("/auth/login").get_data(as_text=True)
    for code, name in LANGUAGES.items():
        assert f'action="/lang/{code}"' in page and f'lang="{code}">{name}</button>' in page
    form = {"csrf_token": csrf_token(client), "next": "/auth/login"}
    assert client.post(f"/lang/{lang}", data=form).status_code == 302
    page = client.get("/auth/login").get_data(as_text=True)
    expected = {"en": "Log in", "zh": "登录"}.get(lang)
    assert expected is not None, f"add what the login page says in {lang} to this test"
    assert f'<html lang="{"zh-CN" if lang == "zh" else lang}">' in page
    assert expected in page


def test_the_english_login_page_shows_no_chinese(client):
    page = client.get("/auth/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Log in" in page and "登录" not in page
    assert "登录" in client.get("/auth/login", headers={"Accept-Language": "zh"}).get_data(
        as_text=True)
