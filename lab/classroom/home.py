"""What a student's home page shows of the classroom: each class they are in, their group and who
plays which role in it, and the class's runs they hold a seat in (status, time left, seats, and
once started the grade: the group's final score and the student's own points, adjustments with
their comments, completed or not). Each run's times are shown in its class's time zone."""
from __future__ import annotations

from sqlalchemy import select

from .. import timezones
from ..extensions import db
from ..models import Assignment, Classroom, Enrollment, User
from .grades import final


def classes_of(user_id: int, runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """`runs` are the home page's entries ({run, roles, left}; each gets its `zone`: its class's
    time zone, a practice run the lab's). Returns one entry per class (with its runs) and the
    runs that belong to no class of the user (practice runs)."""
    enrollments = db.session.scalars(select(Enrollment).where(Enrollment.user_id == user_id)
                                     .order_by(Enrollment.id.desc())).all()
    assignment_ids = {e["run"].assignment_id for e in runs if e["run"].assignment_id}
    found = db.session.execute(
        select(Assignment.id, Assignment.classroom_id, Classroom.time_zone)
        .join(Classroom, Classroom.id == Assignment.classroom_id)
        .where(Assignment.id.in_(assignment_ids))).all() if assignment_ids else []
    class_of = {a_id: c_id for a_id, c_id, _zone in found}
    zone_of = {a_id: zone for a_id, _c_id, zone in found}
    for entry in runs:
        entry["zone"] = timezones.zone_or_none(zone_of.get(entry["run"].assignment_id)) \
            or timezones.lab_zone()
    member_ids = {uid for e in enrollments if e.group for uid in (e.group.roles or {}).values()}
    names = {u.id: u.display_name for u in db.session.scalars(
        select(User).where(User.id.in_(member_ids)))} if member_ids else {}
    classes, placed = [], set()
    for enrollment in enrollments:
        mine = [e for e in runs if class_of.get(e["run"].assignment_id) ==
                enrollment.classroom_id]
        placed.update(id(e) for e in mine)
        for entry in mine:
            if entry["run"].started_at is not None:
                entry["final"] = final(entry["run"])
                entry["mine"] = entry["final"].mine(user_id)
        team: dict[int, list[str]] = {}
        if enrollment.group:
            for role, uid in (enrollment.group.roles or {}).items():
                team.setdefault(uid, []).append(role)
        classes.append({
            "classroom": enrollment.classroom, "group": enrollment.group, "runs": mine,
            "team": [{"user_id": uid, "name": names.get(uid) or "?", "roles": roles,
                      "me": uid == user_id} for uid, roles in team.items()]})
    return classes, [e for e in runs if id(e) not in placed]
