"""The instructor's classes: the list, a new class, its join code, its page and its credential
sheet; and the lab admin's form for instructor accounts."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ... import join_codes
from ...auth.accounts import create_user
from ...extensions import db
from ...models import Assignment, Classroom, User, find_user
from ...models.run import ROLES
from ...scenario import library
from ...views import commits
from .. import bp, groups
from ..access import admin_required, class_or_404, classes_of_staff, instructor_required
from .common import sent_before, to_class


@bp.route("/")
@instructor_required
def index():
    instructors = db.session.scalars(select(User).where(User.is_instructor.is_(True))
                                     .order_by(User.username)).all() \
        if current_user.is_admin else []
    classes = db.session.scalars(classes_of_staff(current_user)).all()
    return render_template("classroom/index.html", classes=classes, instructors=instructors)


@bp.route("/new", methods=["POST"])
@instructor_required
@commits
def new_class():
    if sent_before():
        return redirect(url_for("classroom.index"))
    name = request.form.get("name", "").strip()
    if not name or len(name) > 120:
        flash(_("Give the class a name (at most 120 characters)."), "danger")
        return redirect(url_for("classroom.index")), 303
    classroom = Classroom(name=name, instructor_id=current_user.id,
                          join_code=join_codes.new_join_code())
    db.session.add(classroom)
    db.session.flush()
    flash(_("Class %(name)s created; join code %(code)s.", name=name,
            code=join_codes.shown(classroom.join_code)), "success")
    return redirect(url_for("classroom.show", class_id=classroom.id))


@bp.route("/<int:class_id>/join-code", methods=["POST"])
@instructor_required
@commits
def rotate_join_code(class_id):
    """A new join code (the old one stops working at once; students in the class stay)."""
    classroom = class_or_404(class_id)
    if sent_before():
        return to_class(class_id)
    code = join_codes.rotate(classroom)
    return to_class(class_id, _("New join code %(code)s: the old one no longer works.",
                                code=join_codes.shown(code)))


@bp.route("/instructors", methods=["POST"])
@admin_required
@commits
def new_instructor():
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or len(username) > 64 or len(password) < 8:
        flash(_("An instructor needs a username and a password of at least 8 characters."),
              "danger")
        return redirect(url_for("classroom.index")), 303
    if find_user(username) is not None:  # any case or width: one account per name
        flash(_("The username %(name)s is taken.", name=username), "danger")
        return redirect(url_for("classroom.index")), 303
    create_user(username, password, name=request.form.get("name", ""), instructor=True)
    flash(_("Instructor account %(name)s created.", name=username), "success")
    return redirect(url_for("classroom.index"))


@bp.route("/<int:class_id>")
@instructor_required
def show(class_id):
    classroom = class_or_404(class_id)
    assignments = db.session.scalars(select(Assignment).where(
        Assignment.classroom_id == classroom.id).order_by(Assignment.id.desc())).all()
    return render_template("classroom/class.html", classroom=classroom, roles=ROLES,
                           assignments=assignments, library=library(),
                           ungrouped=[e for e in classroom.enrollments if e.group_id is None],
                           students=sorted(classroom.enrollments, key=lambda e: (
                               e.user.student_no or "", e.user.username)),
                           members=groups.members)


@bp.route("/<int:class_id>/credentials")
@instructor_required
def credentials(class_id):
    classroom = class_or_404(class_id)
    return render_template("classroom/credentials.html", classroom=classroom,
                           enrollments=sorted(classroom.enrollments,
                                              key=lambda e: e.user.student_no or ""))
