"""Solo practice for self-learners: pick a scenario and the roles to play (bots take the rest),
follow the guide on every console, watch the flow map, and read the grade at the end."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from . import bots, flowmap, runs
from .engine.labels import action_label, role_label
from .extensions import db
from .i18n import money, text
from .models import Event, Run
from .models.run import ROLES
from .classroom.access import solo_run_or_404, watchable_run_or_404
from .classroom.grades import final
from .plan import plan
from .rules import fill_in, world_values
from .runs import acting_roles, grade_run, scenario_of
from .scenario import library
from .views import commits

bp = Blueprint("practice", __name__, url_prefix="/practice")


@bp.route("/")
@login_required
def index():
    mine = db.session.scalars(select(Run).where(Run.owner_id == current_user.id,
                                                Run.kind == "solo").order_by(Run.id.desc()))
    return render_template("practice/index.html", scenarios=library(),
                           runs=[progress(run) for run in mine], roles=ROLES,
                           acting=acting_roles)


def progress(run: Run) -> dict:
    """What the list of practice runs shows of a run: steps done of all, the score so far, and
    the next step with who does it (so a stuck run says where it stands)."""
    graded = grade_run(run)
    following = graded.next_steps()
    step = following[0] if following else None
    return {"run": run, "done": graded.resolved_count, "total": len(graded.steps),
            "score": graded.score, "max": graded.max_score, "completed": graded.completed,
            "next": {"role": role_label(step.role, run.mode),
                     "action": action_label(step.action)} if step is not None else None}


@bp.route("/run/<int:run_id>/restart", methods=["POST"])
@login_required
@commits
def restart(run_id):
    """A fresh run of the same scenario with the same seats, in place of this one."""
    run = db.session.get(Run, run_id)
    if run is None:  # pressed twice, or in another tab: the first press did it
        flash(_("That practice run was already restarted or abandoned."), "info")
        return redirect(url_for("practice.index")), 303
    run = solo_run_or_404(run_id)
    fresh = runs.restart(run)
    if fresh is None:
        flash(_("That practice run was already restarted or abandoned."), "info")
        return redirect(url_for("practice.index")), 303
    flash(_("Practice restarted from the beginning: %(title)s.", title=text(fresh.title)),
          "success")
    first = runs.first_console(scenario_of(fresh), fresh.held_roles())
    if first is None:
        return redirect(url_for("practice.index")), 303
    return redirect(url_for(f"{first}.index", run_id=fresh.id)), 303


@bp.route("/run/<int:run_id>/abandon", methods=["POST"])
@login_required
@commits
def abandon(run_id):
    """Delete a practice run with everything in it (the learner confirmed it first)."""
    run = db.session.get(Run, run_id)
    if run is not None:
        solo_run_or_404(run_id)  # somebody else's run: 404
        runs.discard(run.id, run.owner_id)
    flash(_("Practice run abandoned."), "info")
    return redirect(url_for("practice.index")), 303


@bp.route("/start", methods=["POST"])
@login_required
@commits
def start():
    scenarios = {s.id: s for s in library()}
    scenario = scenarios.get(request.form.get("scenario", ""))
    if scenario is None:
        flash(_("Choose a scenario from the list."), "danger")
        return redirect(url_for("practice.index")), 303
    chosen = [r for r in request.form.getlist("roles") if r in acting_roles(scenario)]
    if not chosen:
        flash(_("Choose at least one role to play; bots play the others."), "danger")
        return redirect(url_for("practice.index")), 303
    run, first = runs.start_practice(scenario, current_user.id, chosen,
                                     current_app.config["BOT_DELAY_SECONDS"])
    flash(_("Practice started: %(title)s. The guide on the right shows the next step.",
            title=text(scenario.title)), "success")
    return redirect(url_for(f"{first}.index", run_id=run.id))


@bp.route("/run/<int:run_id>/show/<step_id>", methods=["POST"])
@login_required
def show_me(run_id, step_id):
    """A bot performs the step (or what must come first) so the learner can watch."""
    run = solo_run_or_404(run_id)
    back = request.form.get("role") if request.form.get("role") in ROLES else None
    target = url_for(f"{back}.index", run_id=run.id) if back else url_for(
        "practice.flow_map", run_id=run.id)
    step = next((s for s in scenario_of(run).steps if s.id == step_id), None)
    if step is None:
        abort(404)
    move = bots.play_step(run, step)
    if move is not None:
        if move.gap:
            flash(_("A bot did what had to come first: %(role)s — “%(action)s”. Look at the "
                    "history to see what happened.", role=role_label(move.role, run.mode),
                    action=action_label(move.action)), "info")
        else:
            flash(_("A bot did it for you: look at the history to see what happened."), "info")
    else:
        run = db.session.get(Run, run_id)
        blocked = dict((s.id, why) for s, why in plan(run).blocked)
        why = blocked.get(step.id)
        flash(why.message if why is not None else _("Nothing to do for this step yet."),
              "warning")
    return redirect(target)


@bp.route("/run/<int:run_id>/map")
@login_required
def flow_map(run_id):
    run = watchable_run_or_404(run_id)
    if request.args.get("fragment"):
        return str(_svg(run))
    return render_template("practice/map.html", run=run, svg=_svg(run))


@bp.route("/run/<int:run_id>/done")
@login_required
def done(run_id):
    run = watchable_run_or_404(run_id)
    graded = grade_run(run)
    return render_template("practice/done.html", run=run, grade=graded,
                           scenario=scenario_of(run))


def _svg(run: Run):
    graded = grade_run(run)
    refusals: dict = {}
    for event in db.session.scalars(select(Event).where(Event.run_id == run.id,
                                                        Event.ok.is_(False))):
        refusals[(event.role, event.action)] = refusals.get((event.role, event.action), 0) + 1
    return flowmap.draw(scenario_of(run), graded, run.mode, refusals)


def guide(run: Run, role: str) -> dict:
    """What the guide panel shows on a console: the steps the run expects now, who acts, what
    the world needs first when a step cannot be done yet, the hint with the current numbers,
    and the progress. Read from the plan, so it follows the world as it is. Read-only."""
    planned = plan(run)
    graded = planned.graded
    held = {seat.role for seat in run.seats if seat.user_id == current_user.id}
    anyone = run.held_roles()
    cases = graded.case_ids()
    blocked = {step.id: why for step, why in planned.blocked}
    waiting = {step.id for step in planned.waiting}
    rows = []
    for step in graded.next_steps():
        moves = planned.for_step(step.id)
        first = next((m for m in moves if m.gap), None)
        if run.kind != "solo" and step.role != role and not (first and first.role == role):
            continue
        why = blocked.get(step.id)
        hint = fill_in(text(step.hint), _as_shown(world_values(run, cases.get(step.case))))
        rows.append({
            "step": step, "role": step.role, "role_label": role_label(step.role, run.mode),
            "action": action_label(step.action), "hint": hint,
            "mine": step.role in held, "here": step.role == role,
            "bot": step.by == "bot" or step.role not in anyone,
            "first": {"role": first.role, "role_label": role_label(first.role, run.mode),
                      "action": action_label(first.action),
                      "number": first.doc.number if first.doc is not None else "",
                      "mine": first.role in held,
                      "bot": first.role not in anyone} if first else None,
            "timed": step.at_minute if step.id in waiting else None,
            "waiting": why.message if why is not None else None,
            "show": _show_me_text(run, step, moves[0]) if moves else None,
        })
    # A class run's score is final with the instructor's adjustments, as on every grade page.
    score = final(run, graded).score if run.kind == "class" else graded.score
    return {"steps": rows, "met": graded.met_count, "resolved": graded.resolved_count,
            "total": len(graded.steps), "score": score, "max": graded.max_score,
            "completed": graded.completed, "solo": run.kind == "solo", "run": run}


# World values that are amounts of money (in yuan): a hint shows them as money, 10,560.00.
MONEY_VALUES = ("order_total", "return_total")


def _as_shown(values: dict) -> dict:
    """World values as a hint shows them: "Pay the order (10,560.00)", not "(10560.0)"."""
    return {name: money(round(value * 100)) if name in MONEY_VALUES else value
            for name, value in values.items()}


def _show_me_text(run: Run, step, move) -> dict:
    """What "show me" will do, and what it costs, before the learner confirms it."""
    doing = _("A bot will do it: %(role)s — “%(action)s”%(doc)s.",
              role=role_label(move.role, run.mode), action=action_label(move.action),
              doc=f" {move.doc.number}" if move.doc is not None else "")
    if move.gap:
        cost = _("This comes first and is not a step of the script: it costs no points.")
    elif step.points:
        cost = _("Step %(number)s then earns no points (it is worth %(points)s).",
                 number=step.number, points=step.points)
    else:
        cost = _("This step is worth no points: it costs nothing.")
    return {"doing": doing, "cost": cost}
