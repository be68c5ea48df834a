"""Roster uploads (the service is lab/classroom/rosters.py) and the page an upload leaves to
read: the problems of a refused roster or scenario file, or the lines of an imported roster."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from ...errors import DomainError
from ...extensions import db
from ...scenario import library
from ...views import commits
from .. import bp, rosters, uploads
from ..access import class_or_404, instructor_required
from .common import to_class, to_report


@bp.route("/<int:class_id>/roster", methods=["POST"])
@instructor_required
@commits
def roster(class_id):
    classroom = class_or_404(class_id)
    upload = request.files.get("roster")
    if upload is None or not upload.filename:
        return to_class(class_id, _("Choose a roster file (.xlsx or .csv) to upload."),
                        "danger", "roster")
    rows, problems = rosters.parse(upload.filename, upload.read())
    if problems:  # nothing imported: 303 to the page listing them (a reload sends nothing)
        return to_report(classroom, "roster", upload.filename,
                         {"problems": uploads.stored(problems),
                          "more": max(0, len(problems) - uploads.MAX_PROBLEMS)})
    try:
        result = rosters.import_roster(classroom, rows)
    except DomainError as error:
        db.session.rollback()
        return to_class(class_id, error.message, "danger", "roster")
    if not result.notes:
        return to_class(class_id, _("Roster imported: %(created)s new students, %(updated)s "
                                    "updated.", created=result.created,
                                    updated=result.updated), anchor="roster")
    return to_report(classroom, "roster", upload.filename, {
        "counts": {"created": result.created, "updated": result.updated,
                   "enrolled": result.enrolled, "kept": result.kept,
                   "left_out": result.left_out},
        "notes": uploads.stored(result.notes)})


@bp.route("/<int:class_id>/upload/<int:report_id>")
@instructor_required
def upload_report(class_id, report_id):
    """The problems of a refused roster or scenario file, or the lines of an imported roster to
    check, with the form to upload the file again."""
    classroom = class_or_404(class_id)
    report = uploads.find(report_id, classroom, current_user.id)
    if report is None:
        return to_class(class_id, _("That upload's report is no longer kept (a day): upload the "
                                    "file again to see it."), "warning")
    data, page = report.data, {"classroom": classroom, "filename": report.filename,
                               "more": report.data.get("more", 0)}
    if report.kind == "scenario":
        return render_template("classroom/scenario_problems.html", library=library(),
                               problems=uploads.problems(data["problems"]), **page)
    if "notes" in data:
        return render_template("classroom/roster_result.html", counts=data["counts"],
                               notes=uploads.problems(data["notes"]), **page)
    return render_template("classroom/roster_problems.html",
                           problems=uploads.problems(data["problems"]), **page)
