"""The lab report (实验报告) of one student in one run, drafted from the evidence: the scenario,
the roles held, the steps performed with their times, the documents handled, the refused
attempts, the points, the instructor's adjustments, and the student's own reflection."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..extensions import db
from ..models import Assignment, Document, Event, Group, Reflection, Run, User
from ..runs import scenario_of
from .grades import doers, final


def since_start(run: Run, at: datetime | None) -> str:
    """'+mm:ss' into the run (wall time since it started), for reports and the replay."""
    if at is None or run.started_at is None:
        return ""
    seconds = max(0, int((at - run.started_at).total_seconds()))
    return f"+{seconds // 60:02d}:{seconds % 60:02d}"


def uncounted(graded, events: list[Event]) -> set[int]:
    """Accepted events that did an action of a step not met, and met no step (done out of
    order, by another role or failing a check: a missed step's event too): the debrief
    explains these."""
    waiting = {s.step.action for s in graded.steps if not s.met}
    met = {s.event.id for s in graded.steps if s.met and s.event is not None}
    return {e.id for e in events if e.ok and e.actor != "instructor" and e.id not in met
            and e.action in waiting}


def lab_report(run: Run, user_id: int) -> dict:
    fin = final(run)
    graded = fin.grade
    events = list(db.session.scalars(select(Event).where(
        Event.run_id == run.id, Event.user_id == user_id).order_by(Event.id)))
    created = {e.result.get("number") for e in events if e.ok and e.result.get("number")}
    doc_ids = {e.document_id for e in events if e.document_id}
    documents = list(db.session.scalars(select(Document).where(
        Document.run_id == run.id,
        Document.id.in_(doc_ids) | Document.number.in_(created)).order_by(Document.id))) \
        if doc_ids or created else []
    mine = fin.mine(user_id)
    group = db.session.get(Group, run.group_id) if run.group_id else None
    assignment = db.session.get(Assignment, run.assignment_id) if run.assignment_id else None
    return {
        "run": run, "scenario": scenario_of(run), "grade": graded, "final": fin, "mine": mine,
        "student": db.session.get(User, user_id), "names": doers(graded),
        "classroom": assignment.classroom if assignment else None,
        "group": group.number if group else None,
        "roles": [s.role for s in run.seats if s.user_id == user_id],
        "steps": [s for s in graded.steps if s.event and s.event.user_id == user_id],
        "events": events, "documents": documents,
        "mistakes": [e for e in events if not e.ok],
        "points": mine.points, "adjustments": mine.adjustments, "total": mine.total,
        "adjustments_shown": [a for a in fin.adjustments if a.user_id in (None, user_id)],
        "reflection": db.session.scalar(select(Reflection).where(
            Reflection.run_id == run.id, Reflection.user_id == user_id)),
    }
