"""Who may see what: the one access policy of the lab. Consoles (roles/common.py), the live poll
(lab/live.py), practice (lab/practice.py) and every classroom page ask here.

The predicates (`is_staff`, `owns_class`, `owns_run`, `may_watch`, …) only answer; the loaders
(`class_or_404`, `run_or_404`, …) fetch what a URL names for the current user and answer 404
when it is not theirs to see (a page of somebody else's class is "not found", never "forbidden",
so ids cannot be probed); `instructor_required` and `admin_required` guard whole views (403).
A loader also says whose time zone the page shows its times in: the class's (zones.py), so no
page of a class can forget it."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..models import Assignment, Classroom, Group, Run, Seat
from .zones import show_class, show_run

# ---- predicates ---------------------------------------------------------------------------


def is_staff(user) -> bool:
    """Instructors and lab admins: the classroom's pages are theirs."""
    return bool(user.is_instructor or user.is_admin)


def owns_class(user, classroom: Classroom) -> bool:
    return user.is_admin or classroom.instructor_id == user.id


def classes_of_staff(user):
    """The classes a staff member's classroom index lists (a query): their own; an admin's:
    every class."""
    query = select(Classroom).order_by(Classroom.id.desc())
    return query if user.is_admin else query.where(Classroom.instructor_id == user.id)


def owns_run(user, run: Run) -> bool:
    """The run is the user's to manage: their practice run, or a run of a group of their class
    (an admin's: any run)."""
    if user.is_admin:
        return True
    if run.group_id is None:
        return run.owner_id == user.id
    group = db.session.get(Group, run.group_id)
    return group is not None and group.classroom.instructor_id == user.id


def holds_seat(user, run: Run) -> bool:
    return db.session.scalar(select(Seat.id).where(Seat.run_id == run.id,
                                                   Seat.user_id == user.id)) is not None


def may_watch(user, run: Run) -> bool:
    """The run's page, map and live poll: its owner, the instructor of its class, an admin, or
    anybody holding a seat in it."""
    if user.is_admin or run.owner_id == user.id:
        return True
    if user.is_instructor and run.group_id is not None:
        return owns_run(user, run)
    return holds_seat(user, run)


def may_watch_console(user, run: Run) -> bool:
    """A console of a role the user does not hold, read-only: staff who may watch the run."""
    return is_staff(user) and may_watch(user, run)


def may_mark_report(user, run: Run) -> bool:
    """Marking lab reports is for the instructor of a class run (a practice run's report is its
    learner's alone)."""
    return is_staff(user) and run.assignment_id is not None and owns_run(user, run)


def may_read_report(user, run: Run, student_id: int) -> bool:
    """A student's lab report: the student, or whoever may mark it."""
    if student_id not in {s.user_id for s in run.seats}:
        return False
    return user.id == student_id or may_mark_report(user, run)


# ---- guards and loaders for the current user ----------------------------------------------


def instructor_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not is_staff(current_user):
            abort(403)
        return view(*args, **kwargs)
    return wrapped


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)
    return wrapped


def class_or_404(class_id: int) -> Classroom:
    classroom = db.session.get(Classroom, class_id)
    if classroom is None or not owns_class(current_user, classroom):
        abort(404)
    show_class(classroom)
    return classroom


def assignment_or_404(assignment_id: int) -> Assignment:
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        abort(404)
    class_or_404(assignment.classroom_id)
    return assignment


def run_or_404(run_id: int) -> Run:
    """A run the current user manages (owns_run), else 404."""
    run = db.session.get(Run, run_id)
    if run is None or not owns_run(current_user, run):
        abort(404)
    show_run(run)
    return run


def class_run_or_404(run_id: int) -> Run:
    """A group's run of an assignment of the current instructor's class (else 404)."""
    run = run_or_404(run_id)
    if run.assignment_id is None:
        abort(404)
    assignment_or_404(run.assignment_id)
    return run


def solo_run_or_404(run_id: int) -> Run:
    """The current user's own practice run (an admin's: anybody's), else 404."""
    run = db.session.get(Run, run_id)
    if run is None or run.kind != "solo" or (run.owner_id != current_user.id
                                             and not current_user.is_admin):
        abort(404)
    return run


def watchable_run_or_404(run_id: int) -> Run:
    run = db.session.get(Run, run_id)
    if run is None or not may_watch(current_user, run):
        abort(404)
    show_run(run)
    return run


def report_run_or_404(run_id: int, student_id: int) -> Run:
    run = db.session.get(Run, run_id)
    if run is None or not may_read_report(current_user, run, student_id):
        abort(404)
    show_run(run)
    return run
