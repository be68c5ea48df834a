"""Class rosters from CSV or XLSX: 学号 / student number, 姓名 / name, optional 邮箱 / e-mail.

parse() checks the whole file and returns every problem with its line; import_roster() writes
it in one transaction of its own (retried when a parallel import created the same accounts).

A roster is read within limits, checked before anything is parsed, so a hostile file is refused
in milliseconds: the upload's size; for a workbook, the number of files inside it, their
unpacked size as the zip declares it (a zip bomb declares hundreds of MB) and as it really is
(never unpacking more than declared), their compression, and no XML entity declarations (a
"billion laughs" file); then at most SCAN_ROWS rows of SCAN_COLUMNS columns, read-only.

Whose accounts a roster may touch: a roster creates the accounts of new students and updates
the name and e-mail of the class's own students (a re-import). A student number that is already
an account's elsewhere is never changed by it: a student of the same instructor's other class is
enrolled with that account as it is (same login and password); an account of another
instructor's class, or of no class, is left alone and its line is reported (the student can
join with the class's join code)."""
from __future__ import annotations

import csv
import io
import itertools
import secrets
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ..auth.accounts import create_user
from ..errors import N_, DomainError, InvalidInput, Problem
from ..extensions import db
from ..models import Classroom, Enrollment, User, normalize_username
from .access import is_staff

HEADERS = {
    "student_no": {"学号", "student number", "student no", "student_no", "number", "no"},
    "name": {"姓名", "name", "full name"},
    "email": {"邮箱", "e-mail", "email", "电子邮件"},
}
MAX_ROWS = 500
HEADER_SEARCH = 5  # rows above the header (a title such as 电子商务2026级1班名单)
MAX_BYTES = 1024 * 1024  # a roster of 500 students is some 25 KB as .xlsx, 20 KB as .csv
SCAN_ROWS = 2000  # rows read from the top of a sheet (a roster has at most MAX_ROWS students)
SCAN_COLUMNS = 64
XLSX_MAX_FILES = 100  # an Excel or WPS workbook holds 10 to 30 files
XLSX_MAX_UNPACKED = 20 * 1024 * 1024
XML_DECLARATIONS = tuple(marker.encode(codec) for marker in ("<!DOCTYPE", "<!ENTITY")
                         for codec in ("utf-8", "utf-16-le", "utf-16-be"))


def _line(line: int, msg: str, args: dict, kind: str = "problem") -> Problem:
    """A problem (or a note) of one line of the roster; line 0 is the file itself."""
    return Problem(msg=msg, args=args, line=line, kind=kind)


@dataclass
class Row:
    line: int
    student_no: str
    name: str
    email: str | None


class Refused(InvalidInput):
    """The file as a whole cannot be read as a roster (one problem, line 0)."""

    @property
    def problem(self) -> Problem:
        return _line(0, self.msg, self.args_)


UNREADABLE = N_("This file cannot be read as a roster: save it again as .xlsx or UTF-8 .csv.")


def _check_workbook(data: bytes) -> None:
    """Refuse a workbook that is not a plain roster before openpyxl reads any of it."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, struct.error):
        raise Refused(UNREADABLE) from None
    if len(entries) > XLSX_MAX_FILES:
        raise Refused(N_("This workbook holds %(n)s files inside (a roster workbook holds about "
                         "20, at most %(max)s): save the roster alone as a new .xlsx."),
                      n=len(entries), max=XLSX_MAX_FILES)
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > XLSX_MAX_UNPACKED:
        raise Refused(N_("Unpacked, this workbook would take %(size)s MB (a roster takes less "
                         "than 1 MB, at most %(max)s MB): it was not read. Save the roster alone "
                         "as a new .xlsx."), size=unpacked // (1024 * 1024),
                      max=XLSX_MAX_UNPACKED // (1024 * 1024))
    for entry in entries:
        content = _unpack(data, entry)
        if any(marker in content for marker in XML_DECLARATIONS):
            raise Refused(N_("This workbook declares XML entities (%(part)s), which Excel and "
                             "WPS never write (a “billion laughs” file expands them to gigabytes): "
                             "it was not read. Save the roster as a new .xlsx."),
                          part=entry.filename[:100])


def _unpack(data: bytes, entry: zipfile.ZipInfo) -> bytes:
    """One file of the workbook, never more than the size it declares: a file whose data holds
    more (Python's zipfile would unpack all of it before cutting it down) is refused."""
    if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) \
            or entry.flag_bits & 0x1:  # other compressions, encryption: not Excel's
        raise Refused(UNREADABLE)
    start = entry.header_offset
    if data[start:start + 4] != b"PK\x03\x04" or len(data) < start + 30:
        raise Refused(UNREADABLE)
    name_length, extra_length = struct.unpack_from("<HH", data, start + 26)
    begin = start + 30 + name_length + extra_length
    packed = data[begin:begin + entry.compress_size]
    if entry.compress_type == zipfile.ZIP_STORED:
        content, complete = packed, True
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            content = inflater.decompress(packed, entry.file_size + 1)
        except zlib.error:
            raise Refused(UNREADABLE) from None
        complete = inflater.eof
    if len(content) > entry.file_size or not complete:
        raise Refused(N_("A file inside this workbook (%(part)s) holds more than the size it "
                         "declares (a zip bomb?): it was not read. Save the roster as a new "
                         ".xlsx."), part=entry.filename[:100])
    if len(content) != entry.file_size or zlib.crc32(content) != entry.CRC:
        raise Refused(UNREADABLE)
    return content


def _xlsx_rows(data: bytes):
    _check_workbook(data)
    from openpyxl import load_workbook
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        # max_row bounds the work: openpyxl fills gaps between rows with empty ones, and a row
        # may claim to be the millionth.
        for row in book.active.iter_rows(values_only=True, max_row=SCAN_ROWS,
                                         max_col=SCAN_COLUMNS):
            yield ["" if c is None else str(c).strip() for c in row]
    finally:
        book.close()


def _csv_rows(data: bytes):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Refused(UNREADABLE)
    for row in itertools.islice(csv.reader(io.StringIO(text)), SCAN_ROWS):
        yield [c.strip() for c in row[:SCAN_COLUMNS]]


def _cells(filename: str, data: bytes) -> list[list[str]]:
    """The file's rows (at most SCAN_ROWS, blank ones at the end left out) as lists of text."""
    name = filename.lower()
    if not name.endswith((".xlsx", ".csv")):
        raise Refused(N_("Upload a .csv or .xlsx file (this one is %(name)s)."),
                      name=filename[:100] or "?")
    if len(data) > MAX_BYTES:
        raise Refused(N_("The file is %(size)s KB; a roster file may be at most %(max)s KB "
                         "(500 students take about 30 KB)."),
                      size=-(-len(data) // 1024), max=MAX_BYTES // 1024)
    rows = _xlsx_rows(data) if name.endswith(".xlsx") else _csv_rows(data)
    cells: list[list[str]] = []
    blank = 0
    for row in rows:
        if not any(row):
            blank += 1  # kept only when a row with something follows
            continue
        cells.extend([] for _ in range(blank))
        blank = 0
        cells.append(row)
    return cells


def _columns(row: list[str]) -> dict[str, int]:
    header = [c.strip().lower().replace(" ", "").replace("\u3000", "") for c in row]
    columns = {}
    for key, names in HEADERS.items():
        for i, title in enumerate(header):
            if title in {n.replace(" ", "") for n in names} and key not in columns:
                columns[key] = i
    return columns


def _header(cells: list[list[str]]) -> tuple[int, dict[str, int]]:
    """The header row and its columns: the first row naming both 学号 and 姓名 within the first
    HEADER_SEARCH rows (school rosters often start with a title line), else the first row."""
    for i, row in enumerate(cells[:HEADER_SEARCH]):
        columns = _columns(row)
        if "student_no" in columns and "name" in columns:
            return i, columns
    return 0, _columns(cells[0])


def _control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def parse(filename: str, data: bytes) -> tuple[list[Row], list[Problem]]:
    try:
        cells = _cells(filename or "", data)
    except Refused as refused:
        return [], [refused.problem]
    except Exception:  # a broken workbook or an undecodable text file
        return [], [_line(0, UNREADABLE, {})]
    if not cells:
        return [], [_line(0, N_("The file is empty."), {})]
    start, columns = _header(cells)
    problems = []
    for key, title in (("student_no", "学号 / student number"), ("name", "姓名 / name")):
        if key not in columns:
            problems.append(_line(start + 1, N_("the column %(column)s is missing"),
                                          {"column": title}))
    if problems:
        return [], problems
    if len(cells) - start - 1 > MAX_ROWS:
        return [], [_line(0, N_("At most %(max)s students per file."), {"max": MAX_ROWS})]
    rows, seen = [], {}  # the number as a username compares (any case or width) -> line

    def cell(cells_row, key):
        i = columns.get(key)
        return cells_row[i].strip() if i is not None and i < len(cells_row) else ""

    for line, cells_row in enumerate(cells[start + 1:], start=start + 2):
        number, name, email = (cell(cells_row, k) for k in ("student_no", "name", "email"))
        if not any(cells_row):
            problems.append(_line(line, N_("the row is empty"), {}))
            continue
        if number.endswith(".0") and number[:-2].isdigit():
            number = number[:-2]  # Excel turned the number into a float
        if not number:
            problems.append(_line(line, N_("the student number is empty"), {}))
        elif len(number) > 40 or not all(ch.isalnum() or ch in "-_" for ch in number):
            problems.append(_line(line, N_("the student number %(no)s is not valid"),
                                          {"no": number[:40]}))
        elif normalize_username(number) in seen:
            problems.append(_line(line, N_("student number %(no)s is also on line "
                                                   "%(other)s"), {
                "no": number, "other": seen[normalize_username(number)]}))
        else:
            seen[normalize_username(number)] = line
        if not name:
            problems.append(_line(line, N_("the name is empty"), {}))
        elif len(name) > 100:
            problems.append(_line(line, N_("the name is too long"), {}))
        elif _control(name):
            problems.append(_line(line, N_("the name contains control characters"), {}))
        if email and ("@" not in email or len(email) > 200 or _control(email)):
            problems.append(_line(line, N_("the e-mail %(email)s is not valid"),
                                          {"email": email[:200].replace("\x00", "")}))
        rows.append(Row(line, number, name, email or None))
    return ([], problems) if problems else (rows, [])


# Initial passwords are read off a printed sheet: no look-alikes (0/O, 1/l/I), no symbols.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def initial_password(length: int = 8) -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


@dataclass
class Imported:
    """What an import did: counts, and the lines the instructor should read (a line left out,
    a student enrolled with the account they had)."""
    created: int = 0
    updated: int = 0
    enrolled: int = 0  # students of the instructor's other classes, enrolled as they are
    kept: int = 0  # students of the class who are in another instructor's class too
    left_out: int = 0
    notes: list[Problem] = field(default_factory=list)


def import_roster(classroom: Classroom, rows: list[Row]) -> Imported:
    """Create, update or enrol the roster's students, in one transaction of its own, committed
    here: like the engine's perform(), an import that meets another import creating the same
    accounts at the same moment must start again from a fresh transaction (which then finds
    them), so it cannot leave the commit to the request. Raises DomainError when it gives up."""
    for _attempt in range(3):
        try:
            result = _import(classroom, rows)
            db.session.commit()
            return result
        except IntegrityError:
            db.session.rollback()
        except Exception:
            db.session.rollback()
            raise
    raise DomainError(N_("Other imports changed these students at the same moment: nothing was "
                         "imported. Upload the roster again."))


def _accounts(rows: list[Row]) -> dict[int, list[User]]:
    """For each row (by line), the accounts its student number names: as a username (in any
    case or width) or as an account's student number."""
    keys = {row.line: normalize_username(row.student_no) for row in rows}
    found = db.session.scalars(select(User).where(or_(
        User.username_key.in_(set(keys.values())),
        User.student_no.in_({row.student_no for row in rows})))).all() if rows else []
    by_key = {user.username_key: user for user in found}
    by_number: dict[str, list[User]] = {}
    for user in found:
        if user.student_no:
            by_number.setdefault(user.student_no, []).append(user)
    named = {}
    for row in rows:
        users = [by_key[keys[row.line]]] if keys[row.line] in by_key else []
        users += [u for u in by_number.get(row.student_no, []) if u not in users]
        named[row.line] = users
    return named


def _classes_of(user_ids: set[int]) -> dict[int, list[Classroom]]:
    classes: dict[int, list[Classroom]] = {}
    if user_ids:
        for user_id, classroom in db.session.execute(
                select(Enrollment.user_id, Classroom).join(Classroom)
                .where(Enrollment.user_id.in_(user_ids)).order_by(Classroom.id)):
            classes.setdefault(user_id, []).append(classroom)
    return classes


def _import(classroom: Classroom, rows: list[Row]) -> Imported:
    result = Imported()
    named = _accounts(rows)
    classes = _classes_of({u.id for users in named.values() for u in users})
    for row in rows:
        users = named[row.line]
        if len(users) > 1:
            result.left_out += 1
            result.notes.append(_line(row.line, N_(
                "student number %(no)s names two accounts (%(a)s and %(b)s): this line was not "
                "imported and neither account was changed."),
                {"no": row.student_no, "a": users[0].username, "b": users[1].username},
                "left_out"))
            continue
        if not users:
            _create(classroom, row)
            result.created += 1
            continue
        user = users[0]
        theirs = classes.get(user.id, [])
        other_instructor = any(c.instructor_id != classroom.instructor_id for c in theirs)
        if is_staff(user):
            result.left_out += 1
            result.notes.append(_line(row.line, N_(
                "student number %(no)s is the username of an instructor's account: this line "
                "was not imported."), {"no": row.student_no}, "left_out"))
        elif any(c.id == classroom.id for c in theirs):
            if not other_instructor:
                user.name, user.student_no = row.name, row.student_no
                if row.email:
                    user.email = row.email
                result.updated += 1
            else:
                result.kept += 1
                if (row.name, row.email or user.email) != (user.name, user.email):
                    result.notes.append(_line(row.line, N_(
                        "%(no)s %(name)s is also in another instructor's class: their name and "
                        "e-mail were kept as they are (the roster says %(roster_name)s)."),
                        {"no": row.student_no, "name": user.display_name,
                         "roster_name": row.name}, "kept"))
        elif theirs and not other_instructor:
            db.session.add(Enrollment(classroom_id=classroom.id, user_id=user.id))
            result.enrolled += 1
            result.notes.append(_line(row.line, N_(
                "%(no)s %(name)s, of your class %(class)s, was enrolled with the account they "
                "have (same login and password; name and e-mail unchanged)."),
                {"no": row.student_no, "name": user.display_name, "class": theirs[0].name},
                "enrolled"))
        else:
            result.left_out += 1
            result.notes.append(_line(row.line, N_(
                "student number %(no)s is already the login of a student outside your classes: "
                "this line was not imported and that account was not changed."),
                {"no": row.student_no}, "left_out"))
    db.session.flush()
    return result


def _create(classroom: Classroom, row: Row) -> None:
    password = initial_password()
    user = create_user(row.student_no, password, name=row.name, student_no=row.student_no,
                       email=row.email)
    user.must_change_password = True  # the student chooses their own at the first login
    db.session.add(Enrollment(classroom_id=classroom.id, user_id=user.id,
                              initial_password=password))


def reset_password(classroom: Classroom, enrollment: Enrollment) -> str:
    """A new one-time password for a student of the class, which the student replaces with their
    own at the next login: shown on the class's credential sheet (and on the sheets of the
    instructor's other classes the student is in) until then. Ends the student's sessions.
    Returns the password; the caller commits. An instructor's or admin's account is refused."""
    user = enrollment.user
    if is_staff(user):
        raise DomainError(N_("%(name)s is an instructor's account: its password is not reset "
                             "here."), name=user.display_name)
    password = initial_password()
    user.set_password(password)
    user.must_change_password = True
    for theirs in db.session.scalars(select(Enrollment).join(Classroom).where(
            Enrollment.user_id == user.id)):
        same_instructor = theirs.classroom.instructor_id == classroom.instructor_id
        theirs.initial_password = password if same_instructor else None
    db.session.flush()
    return password
