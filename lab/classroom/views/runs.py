"""Assignments and their runs: assign a scenario to the groups, run the clock, inject events,
and the live board (the services are lab/classroom/work.py and board.py)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ... import once
from ...engine import registry
from ...extensions import db
from ...i18n import text
from ...scenario import from_upload as scenario_from_upload, library, validate
from ...views import commits, form_id
from .. import board, bp, uploads, work
from ..access import assignment_or_404, class_or_404, instructor_required
from .common import sent_before, to_class, to_report


@bp.route("/<int:class_id>/assign", methods=["POST"])
@instructor_required
@commits
def assign(class_id):
    classroom = class_or_404(class_id)
    if sent_before():
        return to_class(class_id, anchor="assignments")
    upload = request.files.get("scenario_file")
    if upload is not None and upload.filename:
        scenario, problems = scenario_from_upload(upload.read())  # within the file limits
    else:
        chosen = {s.id: s for s in library()}.get(request.form.get("scenario", ""))
        if chosen is None:
            return to_class(class_id, _("Choose a scenario from the library or upload one."),
                            "danger", "assignments")
        scenario, problems = validate(chosen.text)
    if scenario is None:
        db.session.rollback()  # the form's key stays unused: the fixed file may use it
        return to_report(classroom, "scenario", upload.filename if upload else "",
                         {"problems": uploads.stored(problems),
                          "more": max(0, len(problems) - uploads.MAX_PROBLEMS)})
    picked = set(request.form.getlist("groups"))
    targets = [gr for gr in classroom.groups if not picked or str(gr.id) in picked]
    if not targets:
        return to_class(class_id, _("Form groups first: an assignment gives one run to each "
                                    "group."), "danger", "groups",
                        scenario=None if upload is not None and upload.filename
                        else request.form.get("scenario"))
    assignment = work.assign(classroom, scenario, targets, current_user.id,
                             bot_delay=current_app.config["BOT_DELAY_SECONDS"])
    for note in problems[:5]:  # warnings only: the file loaded (a few: the session is a cookie)
        flash(uploads.clip(str(note)), "warning")
    if len(problems) > 5:
        flash(_("… and %(n)s more warnings.", n=len(problems) - 5), "warning")
    flash(_("%(title)s assigned to %(n)s groups. Start it when the class is ready.",
            title=text(scenario.title), n=len(targets)), "success")
    return redirect(url_for("classroom.board", assignment_id=assignment.id))


@bp.route("/assignment/<int:assignment_id>/clock", methods=["POST"])
@instructor_required
@commits
def clock(assignment_id):
    """Start, pause, resume or stop one run (run=id) or every run of the assignment."""
    assignment = assignment_or_404(assignment_id)
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
@commits
def inject(assignment_id):
    assignment = assignment_or_404(assignment_id)
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
    assignment = assignment_or_404(assignment_id)
    rows = board.board_rows(assignment)
    if request.args.get("fragment"):
        return render_template("classroom/_board_rows.html", assignment=assignment, rows=rows)
    return render_template("classroom/board.html", assignment=assignment, rows=rows,
                           injections=[registry.get(n) for n in board.INJECTIONS],
                           choices=board.injection_choices(assignment))
