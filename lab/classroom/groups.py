"""Groups (小组) and who plays which role in each."""
from __future__ import annotations

import random

from sqlalchemy.exc import IntegrityError

from ..errors import N_, NotAllowed
from ..extensions import db
from ..models import Assignment, Enrollment, Group
# ROLE_PRIORITY: the order in which roles are handed out (each role's priority in lab/specs.py).
from ..specs import ROLE_PRIORITY, ROLES


def form_groups(classroom, size: int, seed: int | None = None) -> list[Group]:
    """Shuffle the class into groups of about `size` (the last ones may be one smaller), with
    their roles handed out. Flushes; the caller commits (or rolls back on NotAllowed)."""
    if db.session.query(Assignment).filter_by(classroom_id=classroom.id).count():
        raise NotAllowed(N_("The class already has assignments: move students by hand instead "
                            "of forming new groups."))
    students = list(classroom.enrollments)
    if not students:
        raise NotAllowed(N_("Import a roster first: the class has no students."))
    random.Random(seed).shuffle(students)
    count = max(1, -(-len(students) // size))
    for group in list(classroom.groups):
        db.session.delete(group)
    db.session.flush()
    groups = [Group(classroom_id=classroom.id, number=i + 1, roles={}) for i in range(count)]
    try:
        with db.session.begin_nested():
            db.session.add_all(groups)
            db.session.flush()
    except IntegrityError:  # the same form (or another) formed groups at this very moment
        raise NotAllowed(N_("The groups were being formed by another request at the same "
                            "moment: nothing changed here. Check the groups below.")) from None
    for i, enrollment in enumerate(students):
        enrollment.group_id = groups[i % count].id
    db.session.flush()
    for group in groups:
        db.session.refresh(group)
        balance_roles(group)
    db.session.flush()
    return groups


def members(group: Group) -> list[Enrollment]:
    return sorted(group.members, key=lambda e: (e.user.student_no or "", e.user_id))


def balance_roles(group: Group) -> None:
    """Hand the seven roles round the members: with fewer than seven, some hold two; with more,
    the extra members watch (and take over at the next rotation)."""
    people = members(group)
    group.roles = {role: people[i % len(people)].user_id
                   for i, role in enumerate(ROLE_PRIORITY)} if people else {}


def rotate_roles(group: Group) -> None:
    """Each role passes to the next member, so everybody plays something new."""
    people = [e.user_id for e in members(group)]
    if not people:
        return
    group.roles = {role: people[(people.index(uid) + 1) % len(people)] if uid in people
                   else people[0] for role, uid in (group.roles or {}).items()}


def set_roles(group: Group, chosen: dict[str, int | None]) -> None:
    """Manual assignment: role → user id of a member, or None for a bot."""
    ids = {e.user_id for e in group.members}
    roles = {}
    for role, uid in chosen.items():
        if role not in ROLES:
            continue
        if uid is not None and uid not in ids:
            raise NotAllowed(N_("Only members of group %(n)s can hold its roles."),
                             n=group.number)
        if uid is not None:
            roles[role] = uid
    group.roles = roles


def move(enrollment: Enrollment, group: Group | None) -> None:
    """Move a student to another group; the roles they held in the old one go to bots."""
    old = enrollment.group
    if old is not None and old is not group:
        old.roles = {r: u for r, u in (old.roles or {}).items() if u != enrollment.user_id}
    enrollment.group_id = group.id if group else None
