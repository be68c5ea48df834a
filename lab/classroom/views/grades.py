"""Grades and the debrief: the grade sheet (page, CSV, XLSX), adjustments, the replay of one
group's run, and the instructor's side of a lab report (marking it)."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...errors import DomainError
from ...extensions import db
from ...grading import MARK_STEP
from ...i18n import text
from ...models import Event, Run
from ...runs import CLOCK_ACTIONS, grade_run, scenario_of
from ...views import commits, form_id
from .. import bp, grades, repair, reports, work, zones
from ..access import assignment_or_404, class_run_or_404, instructor_required, run_or_404
from .common import group_number, sent_before


@bp.route("/assignment/<int:assignment_id>/grades")
@instructor_required
def grade_sheet(assignment_id):
    assignment = assignment_or_404(assignment_id)
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
                           students=student_rows, zone=zones.of_class(assignment.classroom))


@bp.route("/run/<int:run_id>/adjust", methods=["POST"])
@instructor_required
@commits
def adjust(run_id):
    run = class_run_or_404(run_id)  # a practice run has no grade sheet to adjust: 404
    user_id = form_id(request.form.get("user"))  # a bad id is 404, never the group's grade
    if user_id is not None and user_id not in {s.user_id for s in run.seats}:
        abort(404)
    back = redirect(url_for("classroom.grade_sheet", assignment_id=run.assignment_id))
    if sent_before():
        return back
    try:
        work.adjust(run, user_id, request.form.get("points", ""), request.form.get("comment"),
                    current_user.id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return back, 303
    flash(_("Adjustment recorded."), "success")
    return back


@bp.route("/run/<int:run_id>/replay")
@instructor_required
def replay(run_id):
    run = run_or_404(run_id)
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
                           group=group_number(run), since=reports.since_start,
                           clock_actions=CLOCK_ACTIONS, mark_action=MARK_STEP,
                           reset_action=repair.RESET,
                           steps={s.id: s for s in scenario_of(run).steps})


def marking_report(run: Run, user_id: int):
    """The instructor's side of a student's lab report (the route is student.py's: one URL for
    both): read it, and mark it."""
    if request.method == "POST":
        if "mark" not in request.form:
            abort(400)
        try:
            work.mark_reflection(run.id, user_id, request.form["mark"],
                                 request.form.get("comment", ""))
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "danger")
            return redirect(request.path), 303
        flash(_("Saved."), "success")
        return redirect(request.path)
    return render_template("classroom/report.html", teacher=True, since=reports.since_start,
                           **reports.lab_report(run, user_id))
