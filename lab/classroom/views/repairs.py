"""Repairs of one group's run: what the guide says it waits for, marking an open step done or
skipped, resetting the run to before a step (the service is lab/classroom/repair.py)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ... import once
from ...engine.labels import action_label
from ...errors import AlreadyDone, DomainError
from ...runs import events_of, grade_run, scenario_of
from ...views import commits
from .. import bp, grades, repair
from ..access import class_run_or_404, instructor_required
from .common import group_number


@bp.route("/run/<int:run_id>/repair")
@instructor_required
def repair_page(run_id):
    """One group's run for repair: what the guide says it waits for, its steps with their
    state, and the form that marks an open step done or skipped."""
    run = class_run_or_404(run_id)
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
                           group=group_number(run), holders=holders,
                           names={seat.user_id: seat.user.display_name for seat in run.seats},
                           open_steps=repair.open_steps(graded),
                           resettable=repair.resettable_steps(graded),
                           archives=repair.archives(run),
                           next_ids={s.id for s in graded.next_steps()})


@bp.route("/run/<int:run_id>/mark", methods=["POST"])
@instructor_required
@commits
def mark_step(run_id):
    """Mark an open step of one group's run done or skipped, with a reason (an event of the
    run, by this instructor)."""
    run = class_run_or_404(run_id)
    group = group_number(run)
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
@commits
def reset_run(run_id):
    """Reset one group's run to before a step it has done, with a reason: what it held is
    archived (its replay stays readable) and the group goes on from before that step."""
    run = class_run_or_404(run_id)
    group = group_number(run)
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
