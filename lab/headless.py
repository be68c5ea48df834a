"""Scenarios played without a browser: `lab autoplay` (bots in every role) and `lab play`
(bots in every role, and scripted student moves off the script: SCENARIO_FORMAT.md, second
edition). Both drive the run with the same plan the bots, the guide and "show me" use."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from . import bots, runs
from .engine import Actor, perform, registry, trial
from .errors import DomainError, InvalidInput, N_
from .extensions import db
from .models import Document, Run, User
from .plan import Move, Plan, document_for, plan, step_params, with_defaults
from .rules import one_look
from .runs import create_run, grade_run
from .scenario import Scenario

MAX_ACTIONS = 500
INSTRUCTOR_CLOCK = ("pause", "resume")


def drive(run: Run, until: str | None = None) -> None:
    """Bots play every role (the learner's seats too) until step `until` is expected or
    resolved (None: to the end), advancing the clock over `at_minute` waits."""
    for _ in range(MAX_ACTIONS):
        run = db.session.get(Run, run.id)
        if run.status != "running":
            return
        planned = plan(run, grade_run(run))
        if until is not None and _reached(planned.graded, until):
            return
        if bot_move(run, planned) is None:
            return


def bot_move(run: Run, planned: Plan | None = None) -> str | None:
    """One move of the bots playing every role: the plan's first move they can make, else a
    step passed over, else the clock moved on to the next timed step. What was done (a line of
    a story), or None: nothing."""
    planned = planned or plan(run, grade_run(run))
    # One process plays: the world stays as the plan saw it until the first action that changes
    # it, which ends the look (an action refused meanwhile changed nothing).
    with one_look(run, planned.graded):
        for move in planned.moves:
            line = "bot " + told(move)
            if bots.perform_move(db.session.get(Run, run.id), move):
                return line
    for step, why in planned.passed_over():
        if bots.pass_over(run, step, why):
            return f"system passes over step {step.id} " \
                   f"({getattr(why, 'id', None) or why or 'no document'})"
    if planned.waiting:
        run = db.session.get(Run, run.id)
        elapsed = run.elapsed().total_seconds() / 60
        wait = min(s.at_minute for s in planned.waiting)
        run.started_at -= timedelta(minutes=max(0.0, wait - elapsed) + 0.01)
        db.session.commit()
        return f"the clock moves on to minute {wait}"
    return None


def told(move: Move) -> str:
    """A move as a line of a story: "supplier forward_shortage on SO-0001 {'qty': 20}"."""
    return f"{move.role} {move.action}" + (f" on {move.doc.number}" if move.doc else "") + \
        (f" {move.params}" if move.params else "")


def _reached(graded, step_id: str) -> bool:
    result = next(s for s in graded.steps if s.id == step_id)
    return result.resolved or step_id in {s.id for s in graded.next_steps()}


def result_of(run: Run) -> dict:
    run = db.session.get(Run, run.id)
    graded = grade_run(run)
    result = graded.to_json()
    result["stuck"] = why_stuck(run)
    return result


def why_stuck(run: Run) -> list[str]:
    """For a run that is not complete: why each expected step cannot be done now."""
    planned = plan(run, grade_run(run))
    if planned.graded.completed:
        return []
    lines = [f"{step.id}: {why}" if why is not None else f"{step.id}: no document to "
             f"{step.action} yet" for step, why in planned.blocked]
    for move in planned.moves:  # moves the dry run allowed but the action itself refuses
        why = trial(run, Actor(move.role, "bot"), move.action, move.doc, move.params)
        if why is not None:
            lines.append(f"{move.step.id}: {move.action}: {why}")
    if not lines:
        lines.append("no step of the script can be reached from here")
    db.session.rollback()
    return lines


def autoplay(scenario: Scenario) -> dict:
    run = create_run(scenario, kind="autoplay", bot_delay=0, start=True)
    db.session.commit()  # a command's edge: the run exists before the bots play it
    drive(run)
    return result_of(run)


def play(scenario: Scenario, moves: list[dict]) -> dict:
    """Bots play until each move's step is expected, the move is made, then bots play on."""
    player = User(username=f"player-{scenario.id}"[:60], name="Player")
    player.set_password("x" * 12)
    db.session.add(player)
    db.session.flush()
    run = create_run(scenario, kind="autoplay", bot_delay=0, start=True,
                     seats={role: [player.id] for role in scenario.roles})
    db.session.commit()  # a command's edge: the run exists before the moves
    report = []
    for move in moves:
        drive(run, until=move["at"])
        report.append(make(run, move, player.id))
    drive(run)
    result = result_of(run)
    result["moves"] = report
    result["mistakes"] = result["losses"]  # every point lost, with its reason
    return result


def make(run: Run, move: dict, user_id: int) -> dict:
    """One scripted move, as a student in a seat or as the instructor."""
    run = db.session.get(Run, run.id)
    entry = {"at": move["at"], "as": move["as"], "action": move["action"], "accepted": False,
             "message": ""}
    try:
        if move["as"] == "instructor" and move["action"] in INSTRUCTOR_CLOCK:
            getattr(runs, move["action"])(run)
            db.session.commit()
        else:
            actor = Actor("instructor", "instructor") if move["as"] == "instructor" else \
                Actor(move["as"], "student", user_id)
            doc, params = _target(run, move)
            perform(run.id, actor, move["action"], doc, params,
                    record_refusal=actor.kind == "student")
        entry["accepted"] = True
    except DomainError as error:
        db.session.rollback()
        entry["message"] = error.message
    return entry


def _target(run: Run, move: dict):
    """The document a move acts on (its `on`, else the one its step would) and its input (its
    `with`, else what its step would send)."""
    action = registry.get(move["action"])
    if action is None:
        return None, move.get("with") or {}
    graded = grade_run(run)
    step = next(s.step for s in graded.steps if s.id == move["at"])
    doc = None
    if move.get("on"):
        doc = db.session.scalar(select(Document).where(Document.run_id == run.id,
                                                       Document.number == str(move["on"])))
        if doc is None:
            raise InvalidInput(N_("That document does not exist in this run."), "on")
    elif action.on is not None:
        found = document_for(run, step, graded.case_ids()) \
            if registry.get(step.action).on == action.on else None
        doc = found or _latest(run, action)
    if "with" in move:
        return doc, dict(move.get("with") or {})
    if step.action == action.name:
        return doc, step_params(run, step, doc)
    return doc, with_defaults(run, action, doc, {})


def _latest(run: Run, action) -> Document | None:
    query = select(Document).where(Document.run_id == run.id, Document.kind == action.on)
    return db.session.scalar(query.where(Document.state.in_(action.sources(run.mode)))
                             .order_by(Document.id.desc()).limit(1)) or \
        db.session.scalar(query.order_by(Document.id.desc()).limit(1))
