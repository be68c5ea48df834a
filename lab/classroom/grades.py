"""Grades from runs: the grading function's numbers plus the instructor's adjustments, per
group and per student, and their CSV / XLSX export (the same numbers the pages show; times in
the class's time zone, which the export names)."""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from ..engine.labels import RUN_STATUS_LABELS, role_label
from ..extensions import db
from ..grading import Grade
from ..i18n import text
from ..models import Adjustment, Event, Reflection, Run, Seat, User
from ..runs import grade_run
from ..timezones import local
from . import bp, zones

# The export's columns, in order: keys that stay the same in every language (scripts and other
# spreadsheets read them); the page shows the same columns with translated titles.
# Each row also says which class, scenario and day it is from, so exports of several assignments
# can go in one spreadsheet (the date: the day the group's run started, else the day assigned).
# They come last: the columns before them keep their places for scripts that count.
# Times are the class's wall-clock times (Classroom.time_zone), and each row names that zone:
# `started` is when the group's run started (empty: not yet), `time_zone` the zone of it and of
# `date`.
CONTEXT = ("class", "scenario", "date")
TIMES = ("started", "time_zone")
COLUMNS = ("group", "student_no", "name", "roles", "steps", "mistakes", "points", "adjustment",
           "total", "group_score", "max_score", "reflection_mark", "comment", "completed",
           "group_auto", "group_adjustment", "group_comment") + TIMES + CONTEXT
GROUP_COLUMNS = ("group", "met", "total", "mistakes", "auto", "adjustment", "score", "max",
                 "status", "comment", "completed") + TIMES + CONTEXT
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


# Control characters an XLSX cell cannot hold (openpyxl refuses the whole file).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutral(value):
    """A cell as an export writes it: text that a spreadsheet would read as a formula (a name
    such as "=1+1", a scenario title "=HYPERLINK(…)") gets a leading ' and stays text, and
    control characters go. Every cell of the CSV and the XLSX goes through here."""
    if isinstance(value, str):
        value = CONTROL.sub("", value)
        if value[:1] in FORMULA_STARTS:
            return "'" + value
    return value


def adjustments(run_id: int) -> list[Adjustment]:
    return list(db.session.scalars(select(Adjustment).where(Adjustment.run_id == run_id)
                                   .order_by(Adjustment.id)))


@dataclass
class Mine:
    """One student's part of a run's grade: the points of the steps they did (less their
    mistakes), their own adjustments, and the total."""
    user_id: int
    points: float
    adjustments: list[Adjustment]
    steps: list[str]
    mistakes: int
    missed: list[str]
    not_counted: int = 0  # refused attempts over a cap (lab/grading.py): they cost nothing

    @property
    def adjustment(self):
        return tidy(sum(a.points for a in self.adjustments))

    @property
    def total(self):
        return tidy(self.points + self.adjustment)


@dataclass
class Final:
    """A run's final score: the grading function's score plus the instructor's adjustments to
    the group; and each student's (`mine(user_id)`). Every page and export that shows a score
    reads it here, so no two of them can disagree."""
    run: Run
    grade: Grade
    adjustments: list[Adjustment] = field(default_factory=list)  # the group's and students'

    @property
    def auto(self):
        return tidy(self.grade.score)

    @property
    def group_adjustments(self) -> list[Adjustment]:
        return [a for a in self.adjustments if a.user_id is None]

    @property
    def adjustment(self):
        return tidy(sum(a.points for a in self.group_adjustments))

    @property
    def score(self):
        return tidy(self.grade.score + self.adjustment)

    @property
    def max(self):
        return tidy(self.grade.max_score)

    @property
    def completed(self) -> bool:
        return self.grade.completed

    @property
    def comment(self) -> str:
        return _comments(self.group_adjustments)

    def mine(self, user_id: int) -> Mine:
        own = self.grade.per_user.get(user_id, {})
        return Mine(user_id, tidy(own.get("points", 0)),
                    [a for a in self.adjustments if a.user_id == user_id],
                    list(own.get("steps", [])), own.get("mistakes", 0),
                    list(own.get("missed", [])), own.get("not_counted", 0))


def final(run: Run, graded: Grade | None = None,
          made: list[Adjustment] | None = None) -> Final:
    """The one place a run's score is made final (automatic + adjustments; `made`: the run's
    adjustments when the caller read them already, see Runs)."""
    return Final(run, graded if graded is not None else grade_run(run),
                 made if made is not None else adjustments(run.id))


@dataclass
class Runs:
    """What the pages of many runs (the board, the grade sheet) read of each, in one query per
    kind for all of them instead of one per run: events (in order), adjustments, seats,
    reflection marks and the seated users."""
    events: dict[int, list[Event]]
    adjustments: dict[int, list[Adjustment]]
    seats: dict[int, list[Seat]]
    marks: dict[int, dict[int, float | None]]
    users: dict[int, User]

    @classmethod
    def of(cls, runs: list[Run]) -> Runs:
        ids = [r.id for r in runs]
        found = cls({i: [] for i in ids}, {i: [] for i in ids}, {i: [] for i in ids},
                    {i: {} for i in ids}, {})
        if not ids:
            return found
        for event in db.session.scalars(select(Event).where(Event.run_id.in_(ids))
                                        .order_by(Event.id)):
            found.events[event.run_id].append(event)
        for made in db.session.scalars(select(Adjustment).where(Adjustment.run_id.in_(ids))
                                       .order_by(Adjustment.id)):
            found.adjustments[made.run_id].append(made)
        for seat in db.session.scalars(select(Seat).where(Seat.run_id.in_(ids))
                                       .order_by(Seat.id)):
            found.seats[seat.run_id].append(seat)
        for reflection in db.session.scalars(select(Reflection).where(
                Reflection.run_id.in_(ids))):
            found.marks[reflection.run_id][reflection.user_id] = reflection.mark
        user_ids = {s.user_id for seats in found.seats.values() for s in seats}
        if user_ids:
            found.users = {u.id: u for u in db.session.scalars(select(User).where(
                User.id.in_(user_ids)))}
        return found

    def final(self, run: Run) -> Final:
        return final(run, grade_run(run, self.events[run.id]), self.adjustments[run.id])


def doers(graded: Grade) -> dict[int, str]:
    """user id → display name of the people whose events resolved the grade's steps or cost it
    points: a grade page names who did each step."""
    ids = {s.event.user_id for s in graded.steps if s.event is not None}
    ids |= {loss.event.user_id for loss in graded.losses if loss.event is not None}
    ids |= {e.user_id for e in graded.unscripted}
    ids |= {c.user_id for c in graded.capped}
    ids.discard(None)
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.session.scalars(select(User).where(
        User.id.in_(ids)))}


# A grade page (the class report, the practice completion page) names who did each step.
bp.add_app_template_global(doers, "grade_doers")


def run_rows(run: Run, group_number: int | None,
             known: Runs | None = None) -> tuple[dict, list[dict]]:
    """One group's summary and one row per student of its run (`known`: what was read already
    for a page of many runs)."""
    known = known if known is not None else Runs.of([run])
    fin = known.final(run)
    graded = fin.grade
    summary = {"run": run, "group": group_number, "grade": graded, "final": fin,
               "score": fin.score, "auto": fin.auto, "adjustment": fin.adjustment,
               "max": fin.max, "met": graded.met_count, "total": len(graded.steps),
               "mistakes": len(graded.mistakes), "status": run.status,
               "completed": fin.completed, "adjustments": fin.group_adjustments,
               "comment": fin.comment}
    seats: dict[int, list[str]] = {}
    for seat in known.seats[run.id]:
        seats.setdefault(seat.user_id, []).append(seat.role)
    marks = known.marks[run.id]
    users = known.users
    rows = []
    for user_id, roles in seats.items():
        user = users[user_id]
        mine = fin.mine(user_id)
        rows.append({"group": group_number, "user": user, "student_no": user.student_no or "",
                     "name": user.display_name, "roles": roles, "steps": len(mine.steps),
                     "mistakes": mine.mistakes, "not_counted": mine.not_counted,
                     "points": mine.points,
                     "adjustment": mine.adjustment, "total": mine.total,
                     "group_score": fin.score, "max_score": fin.max,
                     "reflection_mark": None if marks.get(user_id) is None
                     else tidy(marks[user_id]), "run": run, "mode": run.mode,
                     "adjustments": mine.adjustments, "comment": _comments(mine.adjustments),
                     "completed": fin.completed, "group_auto": fin.auto,
                     "group_adjustment": fin.adjustment, "group_comment": fin.comment})
    rows.sort(key=lambda r: r["student_no"])
    return summary, rows


def assignment_rows(assignment) -> tuple[list[dict], list[dict]]:
    from .board import group_numbers
    runs = list(assignment.runs)
    numbers = group_numbers(runs)
    zone = zones.of_class(assignment.classroom)
    known = Runs.of(runs)
    groups, students = [], []
    for run in runs:
        summary, rows = run_rows(run, numbers[run.id], known)
        context = {"class": assignment.classroom.name, "scenario": text(assignment.title),
                   "date": local(run.started_at or assignment.created_at, zone).date(),
                   "started": local(run.started_at, zone), "time_zone": zone}
        groups.append(summary | context)
        students.extend(row | context for row in rows)
    return groups, students


def _comments(adjustments) -> str:
    """The reasons given for adjustments, each with its points: kept in the export too."""
    return "; ".join(f"({tidy(a.points):+g}) {a.comment}" for a in adjustments)


def _plain(row: dict, columns=COLUMNS) -> list:
    """A row as the export writes it: the same numbers as the page, roles by their names."""
    values = []
    for key in columns:
        value = row[key]
        if key == "roles":
            value = ", ".join(role_label(r, row.get("mode", "b2c")) for r in value)
        elif key == "status":
            value = str(RUN_STATUS_LABELS.get(value, value))
        values.append(neutral(value))
    return values


def to_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_csv_cell(value) for value in _plain(row))
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def _csv_cell(value):
    """A time as a spreadsheet reads it: 2026-12-02 06:05 (no "T", no seconds)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def to_xlsx(rows: list[dict], title: str, groups: list[dict] | None = None) -> bytes:
    """Sheet 1: one row per student (as the CSV); sheet 2: one row per group."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    book = Workbook()
    sheet = book.active
    sheet.title = "students"
    sheet.append([neutral(title)])
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(_plain(row))
    if groups is not None:
        summary = book.create_sheet("groups")
        summary.append([neutral(title)])
        summary.append(list(GROUP_COLUMNS))
        for group in groups:
            summary.append(_plain(group, GROUP_COLUMNS))
    for ws in book.worksheets:
        ws["A1"].font = Font(bold=True, size=13)
        for cell in ws[2]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A3"  # the title and the header row stay in view
        ws.auto_filter.ref = f"A2:{get_column_letter(ws.max_column)}{ws.max_row}"
        _widths(ws)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _shown_width(value) -> int:
    """How many character widths a cell takes: a Chinese character two, a date ten."""
    if value is None:
        return 0
    text_ = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text_)


def _widths(ws, least: int = 6, most: int = 40) -> None:
    """Each column as wide as its header and values (the title row aside), within limits, so
    the sheet opens readable; long comments wrap at the limit."""
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter
    for index, column in enumerate(ws.iter_cols(min_row=2), start=1):
        widest = max((_shown_width(c.value) for c in column), default=0)
        ws.column_dimensions[get_column_letter(index)].width = min(most, max(least, widest + 2))
        if widest > most:
            for cell in column[1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        for cell in column[1:]:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif hasattr(cell.value, "isoformat"):
                cell.number_format = "yyyy-mm-dd"


def tidy(value):
    """5.0 → 5, 2.345 → 2.35: numbers as a person writes them."""
    value = float(value or 0)
    return int(value) if value.is_integer() else round(value, 2)
