"""What an upload leaves to read, kept server-side for the page the upload redirects to
(post/redirect/get): the problems of a refused roster or scenario file, or the lines of an
imported roster to check. The list can be long, so it is kept in a row (a day), not in the
session cookie. Messages are kept untranslated and shown in the reader's language."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from ..extensions import db
from ..models import UploadReport
from ..errors import Problem
from ..models.base import utcnow

KEEP = timedelta(days=1)
MAX_PROBLEMS = 1000  # a roster of 500 lines has at most a few problems per line
MAX_ARG = 200  # characters of a value quoted in a message


def _arg(value):
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if not isinstance(value, str):
        value = str(value)
    return clip(value.replace("\x00", ""), MAX_ARG)


def clip(text: str, length: int = 300) -> str:
    return text if len(text) <= length else text[:length] + "…"


def _args(args: dict) -> dict:
    return {str(k): _arg(v) for k, v in (args or {}).items()}


def keep(classroom, user_id: int, kind: str, filename: str, data: dict) -> UploadReport:
    """Store a report (and forget the ones older than a day); the caller commits."""
    db.session.execute(delete(UploadReport).where(UploadReport.created_at < utcnow() - KEEP))
    report = UploadReport(classroom_id=classroom.id, user_id=user_id, kind=kind,
                          filename=_arg(filename or "")[:200], data=data)
    db.session.add(report)
    db.session.flush()
    return report


def stored(problems: list[Problem]) -> list[dict]:
    """Problems of a roster or a scenario file as the report keeps them (at most MAX_PROBLEMS,
    quoted values clipped)."""
    return [{**p.to_json(), "args": _args(p.args), **({"field": _arg(p.field)} if p.field else {})}
            for p in problems[:MAX_PROBLEMS]]


def find(report_id: int, classroom, user_id: int) -> UploadReport | None:
    """The report, if it is this class's and this user's and not older than a day."""
    return db.session.scalar(select(UploadReport).where(
        UploadReport.id == report_id, UploadReport.classroom_id == classroom.id,
        UploadReport.user_id == user_id, UploadReport.created_at >= utcnow() - KEEP))


def problems(items: list[dict]) -> list[Problem]:
    return [Problem.from_json(item) for item in items]
