"""What an instructor's actions do, apart from the pages: assignments become runs, grades get
adjustments, lab reports get reflections and marks. Each flushes; the request that asked for it
commits (lab/views.py commits)."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from .. import join_codes
from ..errors import InvalidInput, N_
from ..extensions import db
from ..models import Adjustment, Assignment, Classroom, Enrollment, Reflection
from ..models.base import utcnow
from ..runs import acting_roles, create_run
from ..specs import ROLE_PRIORITY
from .access import is_staff


def assign(classroom, scenario, groups, instructor_id: int,
           bot_delay: float | None = None) -> Assignment:
    """One run per group, its seats from the group's roles (seats_for), not started.
    Bots wait `bot_delay` seconds before they act (the lab's BOT_DELAY_SECONDS by default)."""
    if bot_delay is None:
        bot_delay = current_app.config["BOT_DELAY_SECONDS"]
    assignment = Assignment(classroom_id=classroom.id, scenario_slug=scenario.id,
                            scenario_text=scenario.text, title=scenario.title)
    db.session.add(assignment)
    db.session.flush()
    for group in groups:
        create_run(scenario, kind="class", owner_id=instructor_id, group_id=group.id,
                   assignment_id=assignment.id, seats=seats_for(scenario, group.roles or {}),
                   bot_delay=bot_delay)
    db.session.flush()
    return assignment


def seats_for(scenario, roles: dict[str, int]) -> dict[str, list[int]]:
    """The run's seats from the group's roles: every role the scenario plays keeps its holder;
    a member whose role the scenario does not use (the mall admin in b2c-normal) is seated
    beside the holder of the scenario role with the fewest holders (an empty one first, in the
    order groups hand roles out), so nobody in the group sits idle. Roles nobody holds: bots."""
    acting = acting_roles(scenario)
    used = [role for role in ROLE_PRIORITY if role in acting]
    seats: dict[str, list[int]] = {}
    for role, user_id in roles.items():
        if role in used:
            seats.setdefault(role, []).append(user_id)
    seated = {user_id for holders in seats.values() for user_id in holders}
    for role in ROLE_PRIORITY:
        user_id = roles.get(role)
        if role in used or user_id is None or user_id in seated or not used:
            continue
        target = min(used, key=lambda r: (len(seats.get(r, [])), used.index(r)))
        seats.setdefault(target, []).append(user_id)
        seated.add(user_id)
    return seats


def adjust(run, user_id: int | None, points_text: str, comment: str, by_id: int) -> Adjustment:
    """A manual change to a group's (user_id None) or a student's grade, with its reason."""
    try:
        points = float(points_text)
    except (TypeError, ValueError):
        points = None
    if points is None or not -1000 <= points <= 1000:
        raise InvalidInput(N_("Points must be a number from -1000 to 1000."), "points")
    comment = (comment or "").strip()[:1000]
    if not comment:
        raise InvalidInput(N_("Say why in a comment: adjustments are kept with their reason."),
                           "comment")
    adjustment = Adjustment(run_id=run.id, user_id=user_id, points=points, comment=comment,
                            by_id=by_id)
    db.session.add(adjustment)
    db.session.flush()
    return adjustment


def _reflection(run_id: int, user_id: int) -> Reflection:
    reflection = db.session.scalar(select(Reflection).where(Reflection.run_id == run_id,
                                                            Reflection.user_id == user_id))
    if reflection is None:
        reflection = Reflection(run_id=run_id, user_id=user_id)
        db.session.add(reflection)
    return reflection


def write_reflection(run_id: int, user_id: int, text: str) -> None:
    reflection = _reflection(run_id, user_id)
    reflection.text = (text or "").strip()[:10000]
    reflection.updated_at = utcnow()
    db.session.flush()


def mark_reflection(run_id: int, user_id: int, mark_text: str, comment: str) -> None:
    mark = None
    if (mark_text or "").strip():
        try:
            mark = float(mark_text)
        except ValueError:
            mark = -1
        if not 0 <= mark <= 100:
            raise InvalidInput(N_("The mark must be a number from 0 to 100."), "mark")
    reflection = _reflection(run_id, user_id)
    reflection.mark, reflection.comment = mark, (comment or "").strip()[:2000]
    reflection.updated_at = utcnow()
    db.session.flush()


def classroom_by_code(code: str) -> Classroom | None:
    """The class a typed join code names (the rule is lab/join_codes.py)."""
    return join_codes.classroom_by_code(code)


def join(user, classroom: Classroom) -> bool:
    """Enrol a student in a class (self-registration with its join code). False when the
    student was in it already."""
    if is_staff(user):
        raise InvalidInput(N_("Instructor accounts do not join classes as students."),
                           "join_code")
    exists = db.session.scalar(select(Enrollment.id).where(
        Enrollment.classroom_id == classroom.id, Enrollment.user_id == user.id))
    if exists:
        return False
    db.session.add(Enrollment(classroom_id=classroom.id, user_id=user.id))
    db.session.flush()
    return True
