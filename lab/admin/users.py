"""Every account of the lab, as the lab admin's user list shows it, and locking one.

`user_page()` reads one page of accounts (search, filters, 50 a page) with each one's role and
classes in a fixed number of queries, whatever the page size and however many accounts the lab
has. `lock()` and `unlock()` change an account: a locked account cannot log in and every session
it had ends at once (User.revoke_sessions); an admin locks neither their own account nor the
last lab admin who can still log in. They flush; the view commits."""
from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, or_, select

from ..errors import N_, InvalidInput
from ..extensions import db
from ..models import Classroom, Enrollment, User
from ..models.base import utcnow
from ..models.user import clean_username

PAGE_SIZE = 50

# An account's role on the list: the first that fits, in this order.
ROLE_LABELS = {"admin": _l("Lab admin"), "instructor": _l("Instructor"),
               "student": _l("Student"), "learner": _l("Self-learner")}


@dataclass
class Row:
    user: User
    role: str  # a key of ROLE_LABELS
    classes: list[str] = field(default_factory=list)  # the classes it is a student of
    teaches: list[str] = field(default_factory=list)  # the classes it teaches


@dataclass
class Page:
    rows: list[Row]
    total: int  # accounts matching the search and filters, on every page
    page: int  # 1-based, within 1..pages
    pages: int


def _in_a_class():
    return exists().where(Enrollment.user_id == User.id)


def _conditions(search: str, role: str | None, temporary: bool, locked_only: bool) -> list:
    conditions = []
    if not temporary:
        conditions.append(User.is_temporary.is_(False))
    if locked_only:
        conditions.append(User.locked_at.is_not(None))
    text = clean_username(search)
    if text:
        conditions.append(or_(User.username.icontains(text, autoescape=True),
                              User.name.icontains(text, autoescape=True),
                              User.student_no.icontains(text, autoescape=True)))
    not_staff = [User.is_admin.is_(False), User.is_instructor.is_(False)]
    if role == "admin":
        conditions.append(User.is_admin.is_(True))
    elif role == "instructor":
        conditions += [User.is_instructor.is_(True), User.is_admin.is_(False)]
    elif role == "student":
        conditions += [*not_staff, _in_a_class()]
    elif role == "learner":
        conditions += [*not_staff, ~_in_a_class()]
    return conditions


def user_page(search: str = "", page: int = 1, *, role: str | None = None,
              temporary: bool = False, locked_only: bool = False,
              per_page: int = PAGE_SIZE) -> Page:
    """One page of the accounts whose username, name or student number contains `search` (any
    case), of a role (a key of ROLE_LABELS; None: every role), temporary accounts only when
    asked, locked ones only when asked; ordered by username. Four queries, whatever the page
    size: the count, the page, its students' classes, its instructors' classes."""
    conditions = _conditions(search, role if role in ROLE_LABELS else None, temporary,
                             locked_only)
    total = db.session.scalar(select(func.count(User.id)).where(*conditions)) or 0
    pages = max(1, ceil(total / per_page))
    page = min(max(page, 1), pages)
    users = db.session.scalars(
        select(User).where(*conditions).order_by(User.username_key, User.id)
        .offset((page - 1) * per_page).limit(per_page)).all()
    rows = {user.id: Row(user, "") for user in users}
    if rows:
        for user_id, name in db.session.execute(
                select(Enrollment.user_id, Classroom.name)
                .join(Classroom, Classroom.id == Enrollment.classroom_id)
                .where(Enrollment.user_id.in_(rows)).order_by(Classroom.name, Classroom.id)):
            rows[user_id].classes.append(name)
        for user_id, name in db.session.execute(
                select(Classroom.instructor_id, Classroom.name)
                .where(Classroom.instructor_id.in_(rows)).order_by(Classroom.name, Classroom.id)):
            rows[user_id].teaches.append(name)
    for row in rows.values():
        row.role = role_of(row.user, bool(row.classes))
    return Page(list(rows.values()), total, page, pages)


def role_of(user: User, in_a_class: bool) -> str:
    """"admin", "instructor", "student" (in a class) or "learner" (a self-learner: in none)."""
    if user.is_admin:
        return "admin"
    if user.is_instructor:
        return "instructor"
    return "student" if in_a_class else "learner"


def lock(actor: User, user: User) -> bool:
    """Lock the account: it cannot log in, and every session it has ends now. False when it
    was locked already (nothing changes). InvalidInput for the actor's own account and for the
    last unlocked lab admin."""
    if user.id == actor.id:
        raise InvalidInput(N_("You cannot lock your own account: nothing was changed."))
    if user.locked_at is not None:
        return False
    if user.is_admin:
        # The unlocked admins, row-locked (PostgreSQL) so that two admins locking each other at
        # the same moment cannot leave the lab with no admin who can log in.
        admins = db.session.scalars(select(User.id).where(
            User.is_admin.is_(True), User.locked_at.is_(None)).with_for_update()).all()
        if not set(admins) - {user.id}:
            raise InvalidInput(N_("%(name)s is the last lab admin who can log in: nothing was "
                                  "changed."), name=user.username)
    user.locked_at = utcnow()
    user.revoke_sessions()
    db.session.flush()
    return True


def unlock(user: User) -> bool:
    """Unlock the account (its user logs in again with the same password). False when it was
    not locked (nothing changes)."""
    if user.locked_at is None:
        return False
    user.locked_at = None
    db.session.flush()
    return True
