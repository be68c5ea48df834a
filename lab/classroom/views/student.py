"""The student's page of the classroom: their lab report (实验报告) of one run, drafted from the
evidence, with their own reflection to write. The same address is the instructor's page to mark
it (grades.py marking_report); access.py says which one a user gets. A student's classes, groups
and runs are on their home page (lab/views.py home, lab/classroom/home.py)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ...errors import DomainError
from ...extensions import db
from ...views import commits
from .. import bp, reports, work
from ..access import may_mark_report, report_run_or_404
from .grades import marking_report


@bp.route("/run/<int:run_id>/report/<int:user_id>", methods=["GET", "POST"])
@login_required
@commits
def report(run_id, user_id):
    run = report_run_or_404(run_id, user_id)
    if may_mark_report(current_user, run):
        return marking_report(run, user_id)
    if request.method == "POST":
        try:
            work.write_reflection(run.id, user_id, request.form.get("text", ""))
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "danger")
            return redirect(request.path), 303
        flash(_("Saved."), "success")
        return redirect(request.path)
    return render_template("classroom/report.html", teacher=False, since=reports.since_start,
                           **reports.lab_report(run, user_id))
