"""Class rosters from CSV or XLSX: 学号 / student number, 姓名 / name, optional 邮箱 / e-mail.

parse() checks the whole file and returns every problem with its line; import_roster() writes
it in one transaction (creating accounts with initial passwords, updating on re-import)."""
from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from ..errors import N_
from ..extensions import db
from ..models import Enrollment, User

HEADERS = {
    "student_no": {"学号", "student number", "student no", "student_no", "number", "no"},
    "name": {"姓名", "name", "full name"},
    "email": {"邮箱", "e-mail", "email", "电子邮件"},
}
MAX_ROWS = 500
HEADER_SEARCH = 5  # rows above the header (a title such as 电子商务2026级1班名单)


@dataclass
class RosterProblem:
    line: int  # 0: the file itself
    msg: str  # msgid
    args: dict

    def message(self) -> str:
        from flask_babel import gettext
        text = gettext(self.msg, **self.args)
        return gettext("line %(line)s: %(problem)s", line=self.line, problem=text) \
            if self.line else text


@dataclass
class Row:
    line: int
    student_no: str
    name: str
    email: str | None


def _cells(filename: str, data: bytes) -> list[list[str]]:
    name = filename.lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
        return [["" if c is None else str(c).strip() for c in row]
                for row in sheet.iter_rows(values_only=True)]
    if name.endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ValueError("encoding")
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]
    raise TypeError("type")


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


def parse(filename: str, data: bytes) -> tuple[list[Row], list[RosterProblem]]:
    try:
        cells = _cells(filename, data)
    except TypeError:
        return [], [RosterProblem(0, N_("Upload a .csv or .xlsx file (this one is %(name)s)."),
                                  {"name": filename or "?"})]
    except Exception:  # a broken workbook or an undecodable text file
        return [], [RosterProblem(0, N_("This file cannot be read as a roster: save it again "
                                        "as .xlsx or UTF-8 .csv."), {})]
    while cells and not any(cells[-1]):
        cells.pop()  # blank rows at the end are not a problem
    if not cells:
        return [], [RosterProblem(0, N_("The file is empty."), {})]
    start, columns = _header(cells)
    problems = []
    for key, title in (("student_no", "学号 / student number"), ("name", "姓名 / name")):
        if key not in columns:
            problems.append(RosterProblem(start + 1, N_("the column %(column)s is missing"),
                                          {"column": title}))
    if problems:
        return [], problems
    if len(cells) - start - 1 > MAX_ROWS:
        return [], [RosterProblem(0, N_("At most %(max)s students per file."), {"max": MAX_ROWS})]
    rows, seen = [], {}

    def cell(cells_row, key):
        i = columns.get(key)
        return cells_row[i].strip() if i is not None and i < len(cells_row) else ""

    for line, cells_row in enumerate(cells[start + 1:], start=start + 2):
        number, name, email = (cell(cells_row, k) for k in ("student_no", "name", "email"))
        if not any(cells_row):
            problems.append(RosterProblem(line, N_("the row is empty"), {}))
            continue
        if number.endswith(".0") and number[:-2].isdigit():
            number = number[:-2]  # Excel turned the number into a float
        if not number:
            problems.append(RosterProblem(line, N_("the student number is empty"), {}))
        elif len(number) > 40 or not all(ch.isalnum() or ch in "-_" for ch in number):
            problems.append(RosterProblem(line, N_("the student number %(no)s is not valid"),
                                          {"no": number}))
        elif number in seen:
            problems.append(RosterProblem(line, N_("student number %(no)s is also on line "
                                                   "%(other)s"), {"no": number,
                                                                  "other": seen[number]}))
        else:
            seen[number] = line
        if not name:
            problems.append(RosterProblem(line, N_("the name is empty"), {}))
        elif len(name) > 100:
            problems.append(RosterProblem(line, N_("the name is too long"), {}))
        if email and ("@" not in email or len(email) > 200):
            problems.append(RosterProblem(line, N_("the e-mail %(email)s is not valid"),
                                          {"email": email}))
        rows.append(Row(line, number, name, email or None))
    return ([], problems) if problems else (rows, [])


# Initial passwords are read off a printed sheet: no look-alikes (0/O, 1/l/I), no symbols.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def initial_password(length: int = 8) -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def import_roster(classroom, rows: list[Row]) -> dict:
    """Create or update the students and enrol them, in one transaction. Returns counts."""
    created = updated = 0
    try:
        for row in rows:
            user = db.session.scalar(select(User).where(User.username == row.student_no))
            if user is None:
                password = initial_password()
                user = User(username=row.student_no, student_no=row.student_no, name=row.name,
                            email=row.email)
                user.set_password(password)
                db.session.add(user)
                db.session.flush()
                created += 1
            else:
                if user.is_instructor or user.is_admin:
                    raise ValueError(row.student_no)
                user.name, user.student_no = row.name, row.student_no
                if row.email:
                    user.email = row.email
                password = None
                updated += 1
            enrollment = db.session.scalar(select(Enrollment).where(
                Enrollment.classroom_id == classroom.id, Enrollment.user_id == user.id))
            if enrollment is None:
                db.session.add(Enrollment(classroom_id=classroom.id, user_id=user.id,
                                          initial_password=password))
            elif password:
                enrollment.initial_password = password
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return {"created": created, "updated": updated}
