"""Views of the instructor's console (and the student's lab report). Every page checks on the
server that the class or run belongs to the current instructor."""
from __future__ import annotations

from functools import wraps

from flask import (Response, abort, flash, redirect, render_template, request, url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import join_codes, once
from ..engine import registry
from ..engine.labels import action_label
from ..errors import AlreadyDone, DomainError
from ..extensions import db
from ..grading import MARK_STEP
from ..i18n import text
from ..models import (Assignment, Classroom, Enrollment, Event, Group, Reflection, Run, User,
                      find_user)
from ..models.run import ROLES
from ..runs import CLOCK_ACTIONS, events_of, grade_run, scenario_of
from ..scenario import from_upload as scenario_from_upload, validate
from ..views import form_id
from . import board, bp, grades, groups, repair, reports, rosters, uploads, work
from .access import instructor_owns_run


def instructor_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not (current_user.is_instructor or current_user.is_admin):
            abort(403)
        return view(*args, **kwargs)
    return wrapped


def _class(class_id: int) -> Classroom:
    classroom = db.session.get(Classroom, class_id)
    if classroom is None or (classroom.instructor_id != current_user.id
                             and not current_user.is_admin):
        abort(404)
    return classroom


def _assignment(assignment_id: int) -> Assignment:
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        abort(404)
    _class(assignment.classroom_id)
    return assignment


def _sent_before() -> bool:
    """True when this form was handled already (a double click): say so, change nothing."""
    if once.claim():
        return False
    flash(_("Already done: this form was sent before."), "warning")
    return True


def _to_class(class_id: int, message: str | None = None, category: str = "success",
              anchor: str | None = None):
    """Back to the class page, with a message; refusals answer 303 (See Other)."""
    if message:
        flash(message, category)
    response = redirect(url_for("classroom.show", class_id=class_id, _anchor=anchor))
    return (response, 303) if category == "danger" else response


def _group_number(run: Run):
    return board.group_numbers([run])[run.id]


def _run(run_id: int) -> Run:
    run = db.session.get(Run, run_id)
    if run is None or not instructor_owns_run(current_user, run):
        abort(404)
    return run


# ---- classes --------------------------------------------------------------------------------

@bp.route("/")
@instructor_required
def index():
    query = select(Classroom).order_by(Classroom.id.desc())
    if not current_user.is_admin:
        query = query.where(Classroom.instructor_id == current_user.id)
    instructors = db.session.scalars(select(User).where(User.is_instructor.is_(True))
                                     .order_by(User.username)).all() \
        if current_user.is_admin else []
    return render_template("classroom/index.html", classes=db.session.scalars(query).all(),
                           instructors=instructors)


@bp.route("/new", methods=["POST"])
@instructor_required
def new_class():
    if _sent_before():
        return redirect(url_for("classroom.index"))
    name = request.form.get("name", "").strip()
    if not name or len(name) > 120:
        flash(_("Give the class a name (at most 120 characters)."), "danger")
        return redirect(url_for("classroom.index")), 303
    classroom = Classroom(name=name, instructor_id=current_user.id,
                          join_code=join_codes.new_join_code())
    db.session.add(classroom)
    db.session.commit()
    flash(_("Class %(name)s created; join code %(code)s.", name=name,
            code=join_codes.shown(classroom.join_code)), "success")
    return redirect(url_for("classroom.show", class_id=classroom.id))


@bp.route("/<int:class_id>/join-code", methods=["POST"])
@instructor_required
def rotate_join_code(class_id):
    """A new join code (the old one stops working at once; students in the class stay)."""
    classroom = _class(class_id)
    if _sent_before():
        return _to_class(class_id)
    code = join_codes.rotate(classroom)
    return _to_class(class_id, _("New join code %(code)s: the old one no longer works.",
                                 code=join_codes.shown(code)))


@bp.route("/instructors", methods=["POST"])
@login_required
def new_instructor():
    if not current_user.is_admin:
        abort(403)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or len(username) > 64 or len(password) < 8:
        flash(_("An instructor needs a username and a password of at least 8 characters."),
              "danger")
        return redirect(url_for("classroom.index")), 303
    if find_user(username) is not None:  # any case or width: one account per name
        flash(_("The username %(name)s is taken.", name=username), "danger")
        return redirect(url_for("classroom.index")), 303
    user = User(username=username, name=request.form.get("name", "").strip()[:100],
                is_instructor=True)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    flash(_("Instructor account %(name)s created.", name=username), "success")
    return redirect(url_for("classroom.index"))


@bp.route("/<int:class_id>")
@instructor_required
def show(class_id):
    classroom = _class(class_id)
    assignments = db.session.scalars(select(Assignment).where(
        Assignment.classroom_id == classroom.id).order_by(Assignment.id.desc())).all()
    from ..practice import library
    return render_template("classroom/class.html", classroom=classroom, roles=ROLES,
                           assignments=assignments, library=library(),
                           ungrouped=[e for e in classroom.enrollments if e.group_id is None],
                           students=sorted(classroom.enrollments, key=lambda e: (
                               e.user.student_no or "", e.user.username)),
                           members=groups.members)


@bp.route("/<int:class_id>/roster", methods=["POST"])
@instructor_required
def roster(class_id):
    classroom = _class(class_id)
    upload = request.files.get("roster")
    if upload is None or not upload.filename:
        return _to_class(class_id, _("Choose a roster file (.xlsx or .csv) to upload."),
                         "danger", "roster")
    rows, problems = rosters.parse(upload.filename, upload.read())
    if problems:  # nothing imported: 303 to the page listing them (a reload sends nothing)
        return _to_report(classroom, "roster", upload.filename,
                          {"problems": uploads.roster_problems(problems),
                           "more": max(0, len(problems) - uploads.MAX_PROBLEMS)})
    try:
        result = rosters.import_roster(classroom, rows)
    except DomainError as error:
        return _to_class(class_id, error.message, "danger", "roster")
    if not result.notes:
        return _to_class(class_id, _("Roster imported: %(created)s new students, %(updated)s "
                                     "updated.", created=result.created,
                                     updated=result.updated), anchor="roster")
    return _to_report(classroom, "roster", upload.filename, {
        "counts": {"created": result.created, "updated": result.updated,
                   "enrolled": result.enrolled, "kept": result.kept,
                   "left_out": result.left_out},
        "notes": uploads.roster_problems(result.notes)})


def _to_report(classroom, kind: str, filename: str, data: dict):
    """Keep what an upload left to read and show it on its own page (303 See Other)."""
    report = uploads.keep(classroom, current_user.id, kind, filename, data)
    return redirect(url_for("classroom.upload_report", class_id=classroom.id,
                            report_id=report.id), 303)


@bp.route("/<int:class_id>/upload/<int:report_id>")
@instructor_required
def upload_report(class_id, report_id):
    """The problems of a refused roster or scenario file, or the lines of an imported roster to
    check, with the form to upload the file again."""
    classroom = _class(class_id)
    report = uploads.find(report_id, classroom, current_user.id)
    if report is None:
        return _to_class(class_id, _("That upload's report is no longer kept (a day): upload the "
                                     "file again to see it."), "warning")
    data, page = report.data, {"classroom": classroom, "filename": report.filename,
                               "more": report.data.get("more", 0)}
    if report.kind == "scenario":
        from ..practice import library
        return render_template("classroom/scenario_problems.html", library=library(),
                               problems=uploads.as_scenario_problems(data["problems"]), **page)
    if "notes" in data:
        return render_template("classroom/roster_result.html", counts=data["counts"],
                               notes=uploads.as_roster_problems(data["notes"]), **page)
    return render_template("classroom/roster_problems.html",
                           problems=uploads.as_roster_problems(data["problems"]), **page)


@bp.route("/<int:class_id>/credentials")
@instructor_required
def credentials(class_id):
    classroom = _class(class_id)
    return render_template("classroom/credentials.html", classroom=classroom,
                           enrollments=sorted(classroom.enrollments,
                                              key=lambda e: e.user.student_no or ""))


@bp.route("/<int:class_id>/groups", methods=["POST"])
@instructor_required
def form_groups(class_id):
    classroom = _class(class_id)
    if _sent_before():
        return _to_class(class_id, anchor="groups")
    size = request.form.get("size", type=int)
    if not size or not 1 <= size <= 20:
        return _to_class(class_id, _("Group size must be a whole number from 1 to 20."),
                         "danger", "groups")
    try:
        made = groups.form_groups(classroom, size)
    except DomainError as error:
        db.session.rollback()
        return _to_class(class_id, error.message, "danger", "groups")
    return _to_class(class_id, _("%(n)s groups formed; roles handed out evenly.", n=len(made)),
                     anchor="groups")


@bp.route("/<int:class_id>/move", methods=["POST"])
@instructor_required
def move(class_id):
    classroom = _class(class_id)
    enrollment = db.session.get(Enrollment, form_id(request.form.get("enrollment")) or 0)
    group_id = form_id(request.form.get("group"))  # a bad id is 404, never "no group"
    group = db.session.get(Group, group_id) if group_id else None
    if enrollment is None or enrollment.classroom_id != classroom.id or (
            group is not None and group.classroom_id != classroom.id):
        abort(404)
    groups.move(enrollment, group)
    db.session.commit()
    return _to_class(class_id, _("%(name)s moved.", name=enrollment.user.display_name),
                     anchor="groups")


@bp.route("/<int:class_id>/roles", methods=["POST"])
@instructor_required
def roles(class_id):
    classroom = _class(class_id)
    if _sent_before():
        return _to_class(class_id, anchor="groups")
    how = request.form.get("how")
    try:
        for group in classroom.groups:
            if how == "balance":
                groups.balance_roles(group)
            elif how == "rotate":
                groups.rotate_roles(group)
            elif how == "manual":
                if str(group.id) != request.form.get("group"):
                    continue
                chosen = {}
                for role in ROLES:
                    value = request.form.get(f"role-{role}", "")
                    chosen[role] = int(value) if value.isdigit() else None
                groups.set_roles(group, chosen)
            else:
                abort(400)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _to_class(class_id, error.message, "danger", "groups")
    return _to_class(class_id, _("Roles saved. Roles left empty are played by bots."),
                     anchor="groups")


# ---- assignments and runs -----------------------------------------------------------------------

@bp.route("/<int:class_id>/assign", methods=["POST"])
@instructor_required
def assign(class_id):
    classroom = _class(class_id)
    if _sent_before():
        return _to_class(class_id, anchor="assignments")
    upload = request.files.get("scenario_file")
    if upload is not None and upload.filename:
        scenario, problems = scenario_from_upload(upload.read())  # within the file limits
    else:
        from ..practice import library
        chosen = {s.id: s for s in library()}.get(request.form.get("scenario", ""))
        if chosen is None:
            return _to_class(class_id, _("Choose a scenario from the library or upload one."),
                             "danger", "assignments")
        scenario, problems = validate(chosen.text)
    if scenario is None:
        db.session.rollback()  # the form's key stays unused: the fixed file may use it
        return _to_report(classroom, "scenario", upload.filename if upload else "",
                          {"problems": uploads.scenario_problems(problems),
                           "more": max(0, len(problems) - uploads.MAX_PROBLEMS)})
    picked = set(request.form.getlist("groups"))
    targets = [gr for gr in classroom.groups if not picked or str(gr.id) in picked]
    if not targets:
        return _to_class(class_id, _("Form groups first: an assignment gives one run to each "
                                     "group."), "danger", "groups")
    assignment = work.assign(classroom, scenario, targets, current_user.id)
    for note in problems[:5]:  # warnings only: the file loaded (a few: the session is a cookie)
        flash(uploads.clip(str(note)), "warning")
    if len(problems) > 5:
        flash(_("… and %(n)s more warnings.", n=len(problems) - 5), "warning")
    flash(_("%(title)s assigned to %(n)s groups. Start it when the class is ready.",
            title=text(scenario.title), n=len(targets)), "success")
    return redirect(url_for("classroom.board", assignment_id=assignment.id))


@bp.route("/assignment/<int:assignment_id>/clock", methods=["POST"])
@instructor_required
def clock(assignment_id):
    """Start, pause, resume or stop one run (run=id) or every run of the assignment."""
    assignment = _assignment(assignment_id)
    op = request.form.get("op")
    if op not in board.CLOCK:
        abort(400)
    run_id = form_id(request.form.get("run"))  # a bad id is 404, never "every run"
    if run_id is not None and run_id not in {r.id for r in assignment.runs}:
        abort(404)
    if op == "stop" and run_id is None and request.form.get("confirm") != "yes":
        # Ending every group's run cannot be undone: the form's checkbox must say so (checked
        # here, so it holds without JavaScript too).
        flash(_("Nothing was stopped: tick “Yes, end every group’s run” next to “Stop all” "
                "to stop them all."), "danger")
        return redirect(url_for("classroom.board", assignment_id=assignment_id)), 303
    changed = board.clock(assignment, op, run_id, by=current_user.id)
    flash(_("%(n)s runs changed.", n=changed), "success" if changed else "warning")
    return redirect(url_for("classroom.board", assignment_id=assignment_id))


@bp.route("/assignment/<int:assignment_id>/inject", methods=["POST"])
@instructor_required
def inject(assignment_id):
    assignment = _assignment(assignment_id)
    name = request.form.get("action", "")
    if name not in board.INJECTIONS:
        abort(400)
    run_id = form_id(request.form.get("run"))  # a bad id is 404, never "every run"
    if run_id is not None and run_id not in {r.id for r in assignment.runs}:
        abort(404)
    params = {f.name: request.form.get(f.name) for f in registry.get(name).inputs}
    key = once.form_key()
    outcome = board.inject(assignment, name, run_id, request.form.get("number", ""), params,
                           current_user.id, key[:48] if key else None)
    if outcome.done:
        flash(_("Injected into %(n)s runs.", n=outcome.done), "success")
    for line in outcome.refused:
        flash(line, "warning")
    back = redirect(url_for("classroom.board", assignment_id=assignment_id))
    return back if outcome.done or not outcome.refused else (back, 303)  # refused: 303


@bp.route("/assignment/<int:assignment_id>/board", endpoint="board")
@instructor_required
def board_page(assignment_id):
    assignment = _assignment(assignment_id)
    rows = board.board_rows(assignment)
    if request.args.get("fragment"):
        return render_template("classroom/_board_rows.html", assignment=assignment, rows=rows)
    return render_template("classroom/board.html", assignment=assignment, rows=rows,
                           injections=[registry.get(n) for n in board.INJECTIONS],
                           choices=board.injection_choices(assignment))


# ---- repairs: one group's run ----------------------------------------------------------------

def _class_run(run_id: int) -> Run:
    """A group's run of an assignment of the current instructor's class (else 404)."""
    run = _run(run_id)
    if run.assignment_id is None:
        abort(404)
    _assignment(run.assignment_id)
    return run


@bp.route("/run/<int:run_id>/repair")
@instructor_required
def repair_page(run_id):
    """One group's run for repair: what the guide says it waits for, its steps with their
    state, and the form that marks an open step done or skipped."""
    run = _class_run(run_id)
    events = events_of(run)
    graded = grade_run(run, events)
    flag = repair.flag(run, graded, events)
    answer = flag.answer if flag else (repair.answer(run, graded) if run.status == "running"
                                       and not graded.completed else None)
    holders: dict[str, list[str]] = {}
    for seat in run.seats:
        holders.setdefault(seat.role, []).append(seat.user.display_name)
    return render_template("classroom/repair.html", run=run, graded=graded, answer=answer,
                           flag=flag, final=grades.final(run, graded),
                           group=_group_number(run), holders=holders,
                           names={seat.user_id: seat.user.display_name for seat in run.seats},
                           open_steps=repair.open_steps(graded),
                           resettable=repair.resettable_steps(graded),
                           archives=repair.archives(run),
                           next_ids={s.id for s in graded.next_steps()})


@bp.route("/run/<int:run_id>/mark", methods=["POST"])
@instructor_required
def mark_step(run_id):
    """Mark an open step of one group's run done or skipped, with a reason (an event of the
    run, by this instructor)."""
    run = _class_run(run_id)
    group = _group_number(run)
    to_board = redirect(url_for("classroom.board", assignment_id=run.assignment_id,
                                _anchor=f"run-{run.id}"))
    key = once.form_key()
    step_id = request.form.get("step", "").strip()
    verdict = request.form.get("verdict", "")
    reason = request.form.get("reason", "")
    try:
        repair.mark(run, current_user.id, step_id, verdict, reason, key[:48] if key else None)
    except AlreadyDone as done:
        flash(done.message, "warning")
        return to_board
    except DomainError as error:
        flash(_("Nothing was marked for group %(n)s: %(why)s", n=group, why=error.message),
              "danger")
        return redirect(url_for("classroom.repair_page", run_id=run.id)), 303
    step = scenario_of(run).step(step_id)
    reason = reason.strip()
    if verdict == "done":
        message = _("Step %(number)s “%(action)s” marked done for group %(n)s: %(reason)s",
                    number=step.number, action=action_label(step.action), n=group,
                    reason=reason)
    else:
        message = _("Step %(number)s “%(action)s” marked skipped for group %(n)s: %(reason)s",
                    number=step.number, action=action_label(step.action), n=group,
                    reason=reason)
    flash(message, "success")
    if repair.dead_end_after(run):
        flash(_("Group %(n)s can do nothing now (a dead end): open its repair page and mark "
                "the blocked step too.", n=group), "danger")
    return to_board


@bp.route("/run/<int:run_id>/reset", methods=["POST"])
@instructor_required
def reset_run(run_id):
    """Reset one group's run to before a step it has done, with a reason: what it held is
    archived (its replay stays readable) and the group goes on from before that step."""
    run = _class_run(run_id)
    group = _group_number(run)
    step_id = request.form.get("step", "").strip()
    if request.form.get("confirm") != "yes":
        flash(_("Nothing was reset for group %(n)s: tick the box to confirm.", n=group), "danger")
        return redirect(url_for("classroom.repair_page", run_id=run.id, _anchor="reset"), 303)
    try:
        archive = repair.reset(run, current_user.id, step_id, request.form.get("reason", ""))
    except DomainError as error:
        flash(_("Nothing was reset for group %(n)s: %(why)s", n=group, why=error.message),
              "danger")
        return redirect(url_for("classroom.repair_page", run_id=run.id, _anchor="reset"), 303)
    step = scenario_of(run).step(step_id)
    flash(_("Group %(n)s is back before step %(number)s “%(action)s”. What it did from there on "
            "is kept in the archived replay (run %(archive)s).", n=group, number=step.number,
            action=action_label(step.action), archive=archive.id), "success")
    return redirect(url_for("classroom.repair_page", run_id=run.id), 303)


# ---- grades -----------------------------------------------------------------------------------

@bp.route("/assignment/<int:assignment_id>/grades")
@instructor_required
def grade_sheet(assignment_id):
    assignment = _assignment(assignment_id)
    group_rows, student_rows = grades.assignment_rows(assignment)
    fmt = request.args.get("format")
    name = f"grades-{assignment.scenario_slug}-{assignment.id}"
    if fmt == "csv":
        return Response(grades.to_csv(student_rows), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={name}.csv"})
    if fmt == "xlsx":
        return Response(grades.to_xlsx(student_rows, text(assignment.title), group_rows),
                        mimetype="application/vnd.openxmlformats-officedocument."
                                 "spreadsheetml.sheet",
                        headers={"Content-Disposition": f"attachment; filename={name}.xlsx"})
    return render_template("classroom/grades.html", assignment=assignment, groups=group_rows,
                           students=student_rows)


@bp.route("/run/<int:run_id>/adjust", methods=["POST"])
@instructor_required
def adjust(run_id):
    run = _class_run(run_id)  # a practice run has no grade sheet to adjust: 404
    user_id = form_id(request.form.get("user"))  # a bad id is 404, never the group's grade
    if user_id is not None and user_id not in {s.user_id for s in run.seats}:
        abort(404)
    back = redirect(url_for("classroom.grade_sheet", assignment_id=run.assignment_id))
    if _sent_before():
        return back
    try:
        work.adjust(run, user_id, request.form.get("points", ""), request.form.get("comment"),
                    current_user.id)
    except DomainError as error:
        flash(error.message, "danger")
        return back, 303
    flash(_("Adjustment recorded."), "success")
    return back


# ---- replay and reports ----------------------------------------------------------------------

@bp.route("/run/<int:run_id>/replay")
@instructor_required
def replay(run_id):
    run = _run(run_id)
    if run.group_id is None:  # a practice run: no group's, no class's
        abort(404)
    events = list(db.session.scalars(select(Event).where(Event.run_id == run.id)
                                     .order_by(Event.id)))
    lanes = []
    # The run's clock (start, pause, resume, stop) and the steps resolved by hand span every
    # lane: they are nobody's move.
    across = (*CLOCK_ACTIONS, MARK_STEP, repair.RESET)
    for role in [s.role for s in scenario_of(run).steps] + [
            e.role for e in events if not (e.action in across and e.ok)]:
        if role and role not in lanes:
            lanes.append(role)
    graded = grade_run(run)
    # Only an event that met its step gets the step's badge (a missed step's event is
    # "not counted": reports.uncounted).
    met_by = {s.event.id: s.step for s in graded.steps if s.met and s.event is not None}
    return render_template("classroom/replay.html", run=run, events=events, lanes=lanes,
                           met_by=met_by, uncounted=reports.uncounted(graded, events),
                           group=_group_number(run), since=reports.since_start,
                           clock_actions=CLOCK_ACTIONS, mark_action=MARK_STEP,
                           reset_action=repair.RESET,
                           steps={s.id: s for s in scenario_of(run).steps})


@bp.route("/run/<int:run_id>/report/<int:user_id>", methods=["GET", "POST"])
@login_required
def report(run_id, user_id):
    """The lab report (实验报告) of one student in one run: drafted from the evidence, with the
    student's reflection; the student writes it, the instructor marks it."""
    run = db.session.get(Run, run_id)
    if run is None or user_id not in {s.user_id for s in run.seats}:
        abort(404)
    # Marking is for a run of an assignment; a practice run's report is its learner's alone.
    teacher = (current_user.is_instructor or current_user.is_admin) and \
        run.assignment_id is not None and instructor_owns_run(current_user, run)
    if not teacher and current_user.id != user_id:
        abort(404)
    if request.method == "POST":
        try:
            if teacher and "mark" in request.form:
                work.mark_reflection(run.id, user_id, request.form["mark"],
                                     request.form.get("comment", ""))
            elif not teacher:
                work.write_reflection(run.id, user_id, request.form.get("text", ""))
            else:
                abort(400)
        except DomainError as error:
            flash(error.message, "danger")
            return redirect(request.path), 303
        flash(_("Saved."), "success")
        return redirect(request.path)
    return render_template("classroom/report.html", teacher=teacher, since=reports.since_start,
                           **reports.lab_report(run, user_id))
