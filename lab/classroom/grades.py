"""Grades from runs: the grading function's numbers plus the instructor's adjustments, per
group and per student, and their CSV / XLSX export (the same numbers the pages show)."""
from __future__ import annotations

import csv
import io

from sqlalchemy import select

from ..engine.labels import RUN_STATUS_LABELS, role_label
from ..extensions import db
from ..models import Adjustment, Reflection, Run, User
from ..runs import grade_run

# The export's columns, in order: keys that stay the same in every language (scripts and other
# spreadsheets read them); the page shows the same columns with translated titles.
COLUMNS = ("group", "student_no", "name", "roles", "steps", "mistakes", "points", "adjustment",
           "total", "group_score", "max_score", "reflection_mark", "comment")
GROUP_COLUMNS = ("group", "met", "total", "mistakes", "auto", "adjustment", "score", "max",
                 "status", "comment")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def adjustments(run_id: int) -> list[Adjustment]:
    return list(db.session.scalars(select(Adjustment).where(Adjustment.run_id == run_id)
                                   .order_by(Adjustment.id)))


def run_rows(run: Run, group_number: int | None) -> tuple[dict, list[dict]]:
    """One group's summary and one row per student of its run."""
    graded = grade_run(run)
    adj = adjustments(run.id)
    group_adj = sum(a.points for a in adj if a.user_id is None)
    summary = {"run": run, "group": group_number, "grade": graded,
               "score": tidy(graded.score + group_adj), "auto": graded.score,
               "adjustment": tidy(group_adj), "max": graded.max_score,
               "met": graded.met_count, "total": len(graded.steps),
               "mistakes": len(graded.mistakes), "status": run.status,
               "adjustments": [a for a in adj if a.user_id is None],
               "comment": _comments(a for a in adj if a.user_id is None)}
    seats: dict[int, list[str]] = {}
    for seat in run.seats:
        seats.setdefault(seat.user_id, []).append(seat.role)
    marks = {r.user_id: r.mark for r in db.session.scalars(
        select(Reflection).where(Reflection.run_id == run.id))}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(seats)))}
    rows = []
    for user_id, roles in seats.items():
        user = users[user_id]
        mine = graded.per_user.get(user_id, {"points": 0, "steps": [], "mistakes": 0})
        mine_adj = [a for a in adj if a.user_id == user_id]
        extra = sum(a.points for a in mine_adj)
        rows.append({"group": group_number, "user": user, "student_no": user.student_no or "",
                     "name": user.display_name, "roles": roles, "steps": len(mine["steps"]),
                     "mistakes": mine["mistakes"], "points": tidy(mine["points"]),
                     "adjustment": tidy(extra), "total": tidy(mine["points"] + extra),
                     "group_score": summary["score"], "max_score": graded.max_score,
                     "reflection_mark": None if marks.get(user_id) is None
                     else tidy(marks[user_id]), "run": run, "mode": run.mode,
                     "adjustments": mine_adj, "comment": _comments(mine_adj)})
    rows.sort(key=lambda r: r["student_no"])
    return summary, rows


def assignment_rows(assignment) -> tuple[list[dict], list[dict]]:
    from .board import group_numbers
    runs = list(assignment.runs)
    numbers = group_numbers(runs)
    groups, students = [], []
    for run in runs:
        summary, rows = run_rows(run, numbers[run.id])
        groups.append(summary)
        students.extend(rows)
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
        if isinstance(value, str) and value[:1] in FORMULA_STARTS:
            value = "'" + value  # a name such as "=1+1" stays text in Excel (no formula)
        values.append(value)
    return values


def to_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_plain(row))
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def to_xlsx(rows: list[dict], title: str, groups: list[dict] | None = None) -> bytes:
    """Sheet 1: one row per student (as the CSV); sheet 2: one row per group."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    book = Workbook()
    sheet = book.active
    sheet.title = "students"
    sheet.append([title])
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(_plain(row))
    if groups is not None:
        summary = book.create_sheet("groups")
        summary.append([title])
        summary.append(list(GROUP_COLUMNS))
        for group in groups:
            summary.append(_plain(group, GROUP_COLUMNS))
    for ws in book.worksheets:
        ws["A1"].font = Font(bold=True, size=13)
        for cell in ws[2]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def tidy(value):
    """5.0 → 5, 2.345 → 2.35: numbers as a person writes them."""
    value = float(value or 0)
    return int(value) if value.is_integer() else round(value, 2)
