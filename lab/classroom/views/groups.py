"""Groups (小组) and roles: form the class into groups, move a student, hand out the roles
(the service is lab/classroom/groups.py)."""
from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _

from ...errors import DomainError
from ...extensions import db
from ...models import Enrollment, Group
from ...models.run import ROLES
from ...views import commits, form_id
from .. import bp, groups
from ..access import class_or_404, instructor_required
from .common import sent_before, to_class


@bp.route("/<int:class_id>/groups", methods=["POST"])
@instructor_required
@commits
def form_groups(class_id):
    classroom = class_or_404(class_id)
    if sent_before():
        return to_class(class_id, anchor="groups")
    size = request.form.get("size", type=int)
    if not size or not 1 <= size <= 20:
        return to_class(class_id, _("Group size must be a whole number from 1 to 20."),
                        "danger", "groups")
    try:
        made = groups.form_groups(classroom, size)
    except DomainError as error:
        db.session.rollback()
        return to_class(class_id, error.message, "danger", "groups", size=size)
    classroom.group_size = size  # the page offers it again (not back to 5)
    return to_class(class_id, _("%(n)s groups formed; roles handed out evenly.", n=len(made)),
                    anchor="groups")


@bp.route("/<int:class_id>/move", methods=["POST"])
@instructor_required
@commits
def move(class_id):
    classroom = class_or_404(class_id)
    enrollment = db.session.get(Enrollment, form_id(request.form.get("enrollment")) or 0)
    group_id = form_id(request.form.get("group"))  # a bad id is 404, never "no group"
    group = db.session.get(Group, group_id) if group_id else None
    if enrollment is None or enrollment.classroom_id != classroom.id or (
            group is not None and group.classroom_id != classroom.id):
        abort(404)
    groups.move(enrollment, group)
    return to_class(class_id, _("%(name)s moved.", name=enrollment.user.display_name),
                    anchor="groups")


@bp.route("/<int:class_id>/roles", methods=["POST"])
@instructor_required
@commits
def roles(class_id):
    classroom = class_or_404(class_id)
    if sent_before():
        return to_class(class_id, anchor="groups")
    how = request.form.get("how")
    try:
        for group in classroom.groups:
            if how == "balance":
                groups.balance_roles(group)
            elif how == "rotate":
                groups.rotate_roles(group)
            elif how != "manual":
                abort(400)
            elif str(group.id) == request.form.get("group"):
                groups.set_roles(group, {role: _member_id(request.form.get(f"role-{role}", ""))
                                         for role in ROLES})
        db.session.flush()
    except DomainError as error:
        db.session.rollback()
        return to_class(class_id, error.message, "danger", "groups")
    return to_class(class_id, _("Roles saved. Roles left empty are played by bots."),
                    anchor="groups")


def _member_id(value: str) -> int | None:
    return form_id(value)  # empty: a bot; junk is 404, never "a bot" (it emptied the seat)
