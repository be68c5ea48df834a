"""The instructor's classes: the list, a new class, its join code, its time zone, its page and
its credential sheet; and the lab admin's form for instructor accounts."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import defer, selectinload

from ... import join_codes, timezones
from ...auth.accounts import create_user
from ...errors import DomainError
from ...extensions import db
from ...models import Assignment, Classroom, Enrollment, Group, Run, User, find_user
from ...models.run import ROLES
from ...scenario import library
from ...views import commits
from .. import bp, groups, rosters, zones
from ..access import admin_required, class_or_404, classes_of_staff, instructor_required
from .common import sent_before, to_class


@bp.route("/")
@instructor_required
def index():
    instructors = db.session.scalars(select(User).where(User.is_instructor.is_(True))
                                     .order_by(User.username)).all() \
        if current_user.is_admin else []
    classes = db.session.scalars(classes_of_staff(current_user)).all()
    return render_template("classroom/index.html", classes=classes, instructors=instructors,
                           zones=timezones.choices(timezones.lab_zone()),
                           lab_zone=timezones.lab_zone())


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
    zone = None  # a form without the field: the lab's zone
    if "time_zone" in request.form:
        try:
            zone = zones.chosen(request.form["time_zone"])
        except DomainError as error:
            db.session.rollback()  # the form's key stays unused: the fixed form may use it
            flash(error.message, "danger")
            return redirect(url_for("classroom.index")), 303
    classroom = Classroom(name=name, instructor_id=current_user.id, time_zone=zone,
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


@bp.route("/<int:class_id>/time-zone", methods=["POST"])
@instructor_required
@commits
def set_time_zone(class_id):
    """The time zone every time of the class is shown and exported in (its pages, its groups'
    consoles, the grade sheet)."""
    classroom = class_or_404(class_id)
    if sent_before():
        return to_class(class_id)
    try:
        zone = zones.set_zone(classroom, request.form.get("time_zone"))
    except DomainError as error:
        db.session.rollback()
        return to_class(class_id, error.message, "danger", "time-zone")
    return to_class(class_id, _("Times in this class are now shown in %(zone)s.", zone=zone),
                    anchor="time-zone")


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


def _whole(classroom: Classroom) -> Classroom:
    """The class with its students (and their accounts) and its groups (and their members)
    loaded in a fixed number of queries, whatever the size of the class: a page that walks the
    roster and every group then asks the database nothing more."""
    return db.session.scalars(select(Classroom).where(Classroom.id == classroom.id).options(
        selectinload(Classroom.enrollments).joinedload(Enrollment.user),
        selectinload(Classroom.groups).selectinload(Group.members).joinedload(Enrollment.user))
        .execution_options(populate_existing=True)).one()


@bp.route("/<int:class_id>")
@instructor_required
def show(class_id):
    """The class page, in the order of the work: the students (roster), their groups and
    roles, then the assignments. The form choices last made (group size, scenario) stay."""
    classroom = _whole(class_or_404(class_id))
    assignments = db.session.scalars(select(Assignment).where(
        Assignment.classroom_id == classroom.id).options(defer(Assignment.scenario_text))
        .order_by(Assignment.id.desc())).all()
    run_counts = dict(db.session.execute(
        select(Run.assignment_id, func.count(Run.id)).where(
            Run.assignment_id.in_([a.id for a in assignments])).group_by(Run.assignment_id)
    ).all()) if assignments else {}
    scenarios = library()
    zone = zones.of_class(classroom)
    chosen = request.args.get("scenario")
    if chosen not in {s.id for s in scenarios}:
        chosen = None
    return render_template("classroom/class.html", classroom=classroom, roles=ROLES,
                           assignments=assignments, run_counts=run_counts, library=scenarios,
                           chosen_scenario=chosen, zone=zone, zones=timezones.choices(zone),
                           group_size=request.args.get("size", type=int)
                           or classroom.group_size or 5,
                           ungrouped=[e for e in classroom.enrollments if e.group_id is None],
                           students=sorted(classroom.enrollments, key=lambda e: (
                               e.user.student_no or "", e.user.username)),
                           members=groups.members)


@bp.route("/<int:class_id>/credentials")
@instructor_required
def credentials(class_id):
    """One slip per student: name, login, first password, and the group and roles they start
    with (the roles of the group as they are now)."""
    classroom = _whole(class_or_404(class_id))
    slips = []
    for e in sorted(classroom.enrollments, key=lambda e: (
            e.group.number if e.group else 10**6, e.user.student_no or "", e.user.username)):
        held = [role for role in ROLES if e.group and (e.group.roles or {}).get(role) == e.user_id]
        slips.append({"enrollment": e, "group": e.group, "roles": held})
    return render_template("classroom/credentials.html", classroom=classroom, slips=slips)


@bp.route("/<int:class_id>/credentials/<int:enrollment_id>/reset", methods=["POST"])
@instructor_required
@commits
def reset_password(class_id, enrollment_id):
    """A new one-time password for a student of the class, shown once here and on the sheet
    until the student has chosen their own."""
    classroom = class_or_404(class_id)
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.classroom_id != classroom.id:
        abort(404)
    back = redirect(url_for("classroom.credentials", class_id=classroom.id))
    if sent_before():
        return back
    try:
        password = rosters.reset_password(classroom, enrollment)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return back, 303
    flash(_("New password of %(name)s (%(username)s): %(password)s. It is shown on the sheet until "
            "they log in and choose their own.", name=enrollment.user.display_name,
            username=enrollment.user.username, password=password), "success")
    return back
