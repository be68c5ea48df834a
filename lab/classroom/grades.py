"""Grades from runs: the grading function's numbers plus the instructor's adjustments, per
group and per student, and their CSV / XLSX export (the same numbers the pages show)."""
from __future__ import annotations

import csv
import io

from sqlalchemy import select

from ..extensions import db
from ..models import Adjustment, Reflection, Run, User
from ..runs import grade_run

COLUMNS = ("group", "student_no", "name", "roles", "steps", "mistakes", "points",
           "adjustment", "total", "group_score", "max_score", "reflection_mark")


def adjustments(run_id: int) -> list[Adjustment]:
    return list(db.session.scalars(select(Adjustment).where(Adjustment.run_id == run_id)
                                   .order_by(Adjustment.id)))


def run_rows(run: Run, group_number: int | None) -> tuple[dict, list[dict]]:
    """One group's summary and one row per student of its run."""
    graded = grade_run(run)
    adj = adjustments(run.id)
    group_adj = sum(a.points for a in adj if a.user_id is None)
    summary = {"run": run, "group": group_number, "grade": graded,
               "score": _num(graded.score + group_adj), "auto": graded.score,
               "adjustment": _num(group_adj), "max": graded.max_score,
               "met": graded.met_count, "total": len(graded.steps),
               "mistakes": len(graded.mistakes)}
    seats: dict[int, list[str]] = {}
    for seat in run.seats:
        seats.setdefault(seat.user_id, []).append(seat.role)
    marks = {r.user_id: r.mark for r in db.session.scalars(
        select(Reflection).where(Reflection.run_id == run.id))}
    rows = []
    for user_id, roles in seats.items():
        user = db.session.get(User, user_id)
        mine = graded.per_user.get(user_id, {"points": 0, "steps": [], "mistakes": 0})
        extra = sum(a.points for a in adj if a.user_id == user_id)
        rows.append({"group": group_number, "user": user, "student_no": user.student_no or "",
                     "name": user.display_name, "roles": roles, "steps": len(mine["steps"]),
                     "mistakes": mine["mistakes"], "points": _num(mine["points"]),
                     "adjustment": _num(extra), "total": _num(mine["points"] + extra),
                     "group_score": summary["score"], "max_score": graded.max_score,
                     "reflection_mark": marks.get(user_id)})
    rows.sort(key=lambda r: r["student_no"])
    return summary, rows


def assignment_rows(assignment) -> tuple[list[dict], list[dict]]:
    from ..models import Group
    groups, students = [], []
    for run in assignment.runs:
        group = db.session.get(Group, run.group_id) if run.group_id else None
        summary, rows = run_rows(run, group.number if group else None)
        groups.append(summary)
        students.extend(rows)
    return groups, students


def _plain(row: dict) -> list:
    return [("; ".join(row[c]) if c == "roles" else row[c]) for c in COLUMNS]


def to_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_plain(row))
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def to_xlsx(rows: list[dict], title: str) -> bytes:
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    sheet.title = "grades"
    sheet.append([title])
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(_plain(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _num(value):
    value = float(value or 0)
    return int(value) if value.is_integer() else round(value, 2)
