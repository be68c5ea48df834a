"""Every user-facing string is translated: the zh and en catalogs are complete and up to date
with the source (run `flask --app run lab translations` after changing strings)."""
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "lab" / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "N_": None}


def source_msgids() -> set[str]:
    method_map = [("lab/**.py", "python"), ("roles/**.py", "python"),
                  ("templates/**.html", "jinja2")]
    ids = set()
    # Only hidden folders are skipped (babel's default also skips templates/_partials/).
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, keywords=KEYWORDS,
            directory_filter=lambda path: not Path(path).name.startswith(".")):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_catalogs_cover_every_string_in_the_source():
    wanted = source_msgids()
    assert len(wanted) > 300
    for lang in ("zh", "en"):
        with open(CATALOGS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
            catalog: Catalog = read_po(f)
        have = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog
                if m.id and m.string and all(m.string) and "fuzzy" not in m.flags}
        missing = sorted(wanted - have)
        assert missing == [], f"{lang}: untranslated: {missing[:10]}"


def test_zh_uses_the_coursework_terms():
    with open(CATALOGS / "zh" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f)
    zh = {m.id: m.string for m in catalog if m.id}
    assert zh["Mall admin"] == "商城管理员" and zh["Sales department"] == "企业销售部"
    assert zh["Warehouse"] == "储运部" and zh["Shortage"] == "缺货单"
    assert zh["Payment reminder"] == "催款单" and zh["Lab report"] == "实验报告"
