"""Hostile uploads are refused with a clear message, change nothing, and cost the server next to
nothing: a scenario file (YAML alias bomb, 10,000-deep nesting, oversized, too many aliases),
a roster workbook (billion laughs in its XML, a zip bomb declaring hundreds of MB, a zip bomb
whose sizes lie, a row claiming to be the billionth) and oversized rosters.

Each bomb is real: the test computes what it would expand to (over 100 MB each) from the file
itself, so a lab that parsed it would visibly hang or run out of memory here; no timing is
asserted. Refusals answer 303 to a page listing the problem (a reload sends nothing again)."""
import html
import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from openpyxl import Workbook

from lab.extensions import db
from lab.models import Assignment, Classroom, Enrollment, Run, User
from lab.scenario import MAX_ALIASES
from tests.helpers import login, make_user, post

EN = {"Accept-Language": "en"}
LIBRARY = Path(__file__).parent.parent / "scenarios"
MB = 1024 * 1024


@pytest.fixture
def teacher(app):
    make_user("teacher", is_instructor=True)
    client = app.test_client()
    login(client, "teacher")
    post(client, "/classroom/new", {"name": "电商一班"})
    return client, db.session.scalar(db.select(Classroom))


@pytest.fixture
def grouped(teacher):
    """A class with two students in a group: a valid scenario would be assigned at once."""
    client, classroom = teacher
    post(client, f"/classroom/{classroom.id}/roster",
         {"roster": (io.BytesIO("学号,姓名\n1,A\n2,B\n".encode()), "r.csv")},
         content_type="multipart/form-data")
    assert post(client, f"/classroom/{classroom.id}/groups", {"size": "2"}).status_code == 302
    return client, classroom


def snapshot():
    db.session.expire_all()
    return {"users": sorted((u.username, u.name, u.email) for u in db.session.query(User)),
            "enrollments": db.session.query(Enrollment).count(),
            "assignments": db.session.query(Assignment).count(),
            "runs": db.session.query(Run).count()}


def refused(client, response) -> str:
    """303 to the page listing the problems; that page's text."""
    assert response.status_code == 303, response.status_code
    page = client.get(response.headers["Location"], headers=EN)
    assert page.status_code == 200
    return html.unescape(page.get_data(as_text=True))


def upload_scenario(client, classroom, data: bytes, filename="mine.yaml"):
    return post(client, f"/classroom/{classroom.id}/assign",
                {"scenario_file": (io.BytesIO(data), filename)},
                content_type="multipart/form-data", headers=EN)


def upload_roster(client, classroom, data: bytes, filename="roster.xlsx"):
    return post(client, f"/classroom/{classroom.id}/roster",
                {"roster": (io.BytesIO(data), filename)},
                content_type="multipart/form-data", headers=EN)


# ---- scenario files ---------------------------------------------------------------------------

def base_scenario() -> str:
    return (LIBRARY / "b2c-normal.yaml").read_text(encoding="utf-8")


def alias_bomb(levels=8, width=9) -> tuple[str, int]:
    """An anchored list of `width` strings, each next level `width` aliases of the one before:
    the last level written out holds width**levels strings. Returns (YAML, its size written out)."""
    lines = ["laughs:", f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n", width ** levels * len("lol, ")


def test_an_alias_bomb_in_an_uploaded_scenario_is_refused_before_it_expands(grouped):
    client, classroom = grouped
    bomb, expanded = alias_bomb()
    assert expanded > 100 * MB  # what storing the title below would write
    text = base_scenario().replace("title:", "title_was:", 1) + bomb + \
        "title: {en: *l7, zh: 炸弹}\n"
    data = text.encode()
    assert len(data) < 8 * 1024
    before = snapshot()
    page = refused(client, upload_scenario(client, classroom, data))
    assert "The scenario was not assigned" in page
    assert "with its aliases (*name) written out the file would be larger than 256 KB" in page
    assert snapshot() == before


def test_ten_thousand_deep_nesting_is_refused_with_the_line(grouped):
    client, classroom = grouped
    deep = "[" * 10_000 + "]" * 10_000
    text = base_scenario() + f"notes:\n  deep: {deep}\n"
    before = snapshot()
    page = refused(client, upload_scenario(client, classroom, text.encode()))
    line = text.count("\n", 0, text.index("deep:")) + 1
    assert f"line {line}, column" in page
    assert "nested more than 32 levels deep" in page
    assert snapshot() == before


def test_more_aliases_than_allowed_are_refused(grouped):
    client, classroom = grouped
    text = base_scenario() + "notes:\n  x: &x ok\n  many: [" + ", ".join(
        ["*x"] * (MAX_ALIASES + 1)) + "]\n"
    before = snapshot()
    page = refused(client, upload_scenario(client, classroom, text.encode()))
    assert f"more than {MAX_ALIASES} aliases (*name)" in page
    assert snapshot() == before


def test_an_oversized_scenario_file_is_refused_and_names_its_size(grouped):
    client, classroom = grouped
    data = (base_scenario() + "# padding\n" * 30_000).encode()  # a valid file of ~300 KB
    assert 256 * 1024 < len(data) < 2 * MB
    before = snapshot()
    page = refused(client, upload_scenario(client, classroom, data))
    assert f"the file is {-(-len(data) // 1024)} KB; a scenario file may be at most 256 KB" in page
    assert snapshot() == before


def test_an_upload_over_the_request_limit_is_refused(grouped):
    client, classroom = grouped
    before = snapshot()
    r = upload_scenario(client, classroom, b"#" * (3 * MB))
    assert r.status_code == 413
    assert "The file is too large" in r.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("line, message", [
    ("opened: 2026-13-01", "a value cannot be read: month must be in 1..12"),
    ("big: " + "9" * 5000, "a value cannot be read: Exceeds the limit (4300 digits)"),
])
def test_values_yaml_cannot_build_are_problems_not_errors(grouped, line, message):
    client, classroom = grouped
    before = snapshot()
    page = refused(client, upload_scenario(client, classroom,
                                           (base_scenario() + line + "\n").encode()))
    assert message in page
    assert snapshot() == before


def test_a_file_that_is_not_utf8_is_listed_on_the_problem_page(grouped):
    client, classroom = grouped
    page = refused(client, upload_scenario(client, classroom, base_scenario().encode("utf-16")))
    assert "The scenario file must be UTF-8 text (YAML)." in page


def test_a_scenario_using_a_few_anchors_still_loads(grouped):
    """Aliases are YAML; within the limits a file may use them."""
    client, classroom = grouped
    text = base_scenario().replace("title:", "title: &title", 1) + "summary: *title\n"
    r = upload_scenario(client, classroom, text.replace("\n", "\r\n").encode("utf-8-sig"))
    assert r.status_code == 302 and "/board" in r.headers["Location"]
    assignment = db.session.scalar(db.select(Assignment))
    # stored as the bounded, normalized text: no byte-order mark, \n line ends
    assert assignment.scenario_text == text


# ---- roster workbooks -------------------------------------------------------------------------

def roster_parts(rows=None) -> dict[str, bytes]:
    book = Workbook()
    for row in rows or [["学号", "姓名"], ["20260001", "王芳"], ["20260002", "李雷"]]:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    archive = zipfile.ZipFile(out)
    return {name: archive.read(name) for name in archive.namelist()}


def deflated(content: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(content) + packer.flush()


def build_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip from (name, deflated data, size, crc) as declared: what zipfile would write,
    except that the declared size and CRC are whatever the test says."""
    out, central = bytearray(), bytearray()
    for name, packed, size, crc in entries:
        encoded = name.encode()
        header = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(packed),
                             size, len(encoded), 0)
        central += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                               len(packed), size, len(encoded), 0, 0, 0, 0, 0, len(out))
        central += encoded
        out += header + encoded + packed
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(central), len(out), 0)
    return bytes(out + central + end)


def workbook(parts: dict[str, bytes], big: dict[str, tuple[bytes, int, int]] | None = None):
    """An .xlsx of these parts; `big` parts come as (deflated data, size, crc) already."""
    big = big or {}
    return build_zip([(name, *big[name]) if name in big else
                      (name, deflated(content), len(content), zlib.crc32(content))
                      for name, content in parts.items()])


def spaces_bomb(head: bytes, megabytes: int, tail: bytes) -> tuple[bytes, int, int]:
    """head + `megabytes` MB of spaces + tail, deflated (about 1 KB per MB: one compressed
    block of 1 MB repeated, each block flushed so that it stands alone)."""
    mb = b" " * MB
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = packer.compress(mb) + packer.flush(zlib.Z_FULL_FLUSH)
    first = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    last = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    packed = first.compress(head) + first.flush(zlib.Z_FULL_FLUSH) + block * megabytes + \
        last.compress(tail) + last.flush()
    crc = zlib.crc32(head)
    for _ in range(megabytes):
        crc = zlib.crc32(mb, crc)
    return packed, len(head) + megabytes * MB + len(tail), zlib.crc32(tail, crc)


def unpacked_size(packed: bytes) -> int:
    """What deflated data unpacks to, counted 1 MB at a time."""
    inflater, size, rest = zlib.decompressobj(-zlib.MAX_WBITS), 0, packed
    while rest:
        size += len(inflater.decompress(rest, MB))
        rest = inflater.unconsumed_tail
    return size


SHEET = "xl/worksheets/sheet1.xml"


def test_a_zip_bomb_roster_declaring_200_mb_is_refused_unread(teacher):
    client, classroom = teacher
    parts = roster_parts()
    sheet = parts[SHEET]
    cut = sheet.index(b"<sheetData")
    data = workbook(parts, {SHEET: spaces_bomb(sheet[:cut], 200, sheet[cut:])})
    declared = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert len(data) < 300 * 1024 and declared > 200 * MB
    assert unpacked_size(spaces_bomb(sheet[:cut], 200, sheet[cut:])[0]) > 200 * MB  # real
    before = snapshot()
    page = refused(client, upload_roster(client, classroom, data))
    assert "Unpacked, this workbook would take 200 MB" in page
    assert snapshot() == before


def test_a_zip_bomb_whose_declared_size_lies_is_refused_unread(teacher):
    """The sheet declares 1 KB (with the CRC of its first KB) but unpacks to 200 MB: Python's
    zipfile would unpack all of it before cutting it to the declared size."""
    client, classroom = teacher
    parts = roster_parts()
    sheet = parts[SHEET]
    cut = sheet.index(b"<sheetData")
    packed, size, _ = spaces_bomb(sheet[:cut], 200, sheet[cut:])
    assert unpacked_size(packed) == size > 200 * MB
    first_kb = (sheet[:cut] + b" " * 1024)[:1024]
    data = workbook(parts, {SHEET: (packed, 1024, zlib.crc32(first_kb))})
    before = snapshot()
    page = refused(client, upload_roster(client, classroom, data))
    assert f"A file inside this workbook ({SHEET}) holds more than the size it declares" in page
    assert snapshot() == before


LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' + b"".join(
    b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
    for i in range(1, 10)) + b"]>\n")


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", SHEET, "xl/workbook.xml"])
def test_billion_laughs_in_a_roster_workbook_is_refused_unread(teacher, part):
    client, classroom = teacher
    assert 10 ** 9 * len("lol") > 100 * MB  # &lol9; expands to a billion "lol"
    parts = roster_parts()
    if part == "xl/sharedStrings.xml":
        parts[part] = LAUGHS + b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/' \
            b'2006/main" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>'
    else:
        body = parts[part]
        parts[part] = LAUGHS + body[body.index(b"?>") + 2:] if body.startswith(b"<?xml") \
            else LAUGHS + body
    before = snapshot()
    page = refused(client, upload_roster(client, classroom, workbook(parts)))
    assert f"This workbook declares XML entities ({part})" in page
    assert snapshot() == before


def test_a_workbook_of_many_files_is_refused(teacher):
    client, classroom = teacher
    parts = roster_parts()
    parts.update({f"xl/media/image{i}.png": b"x" for i in range(150)})
    before = snapshot()
    page = refused(client, upload_roster(client, classroom, workbook(parts)))
    assert "This workbook holds " in page and "at most 100" in page
    assert snapshot() == before


def test_a_row_claiming_to_be_the_billionth_is_not_walked_to(teacher):
    """openpyxl fills the rows up to the sheet's declared size with empty ones: the lab reads
    the first 2,000 rows, whatever the sheet declares."""
    client, classroom = teacher
    parts = roster_parts()
    sheet = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:B1000000000"',
                   parts[SHEET])
    assert b"A1:B1000000000" in sheet
    parts[SHEET] = sheet.replace(b"</sheetData>", b'<row r="1000000000"><c r="A1000000000" '
                                 b't="inlineStr"><is><t>x</t></is></c></row></sheetData>')
    r = upload_roster(client, classroom, workbook(parts))
    assert r.status_code == 302
    assert db.session.query(Enrollment).count() == 2


def test_an_oversized_roster_is_refused_and_names_its_size(teacher):
    client, classroom = teacher
    data = ("学号,姓名\n" + "".join(f"{i},学生{i}\n" for i in range(400)) +
            "#" * (1100 * 1024) + "\n").encode()
    before = snapshot()
    page = refused(client, upload_roster(client, classroom, data, "roster.csv"))
    assert f"The file is {-(-len(data) // 1024)} KB; a roster file may be at most 1024 KB" in page
    assert snapshot() == before


def test_control_characters_in_a_roster_are_refused_line_by_line(teacher):
    client, classroom = teacher
    data = "学号,姓名,邮箱\n1001,Ann\x00Lee,\n1002,Bo Wu,bo\x07@uni.edu\n".encode()
    before = snapshot()
    page = refused(client, upload_roster(client, classroom, data, "roster.csv"))
    assert "line 2: the name contains control characters" in page
    assert "line 3: the e-mail" in page
    assert snapshot() == before
