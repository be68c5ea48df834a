"""Bots play the roles nobody holds, and the steps a scenario gives to a bot (`by: bot`).

They need no worker: after each committed action and on each console poll, the run checks
whether a bot has something due and performs it through the same engine as a student. Two app
processes ticking the same run at once are harmless: a document action done twice is refused as
already done, and a bot's action that starts something carries a one-time request key."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from .engine import Actor, perform
from .errors import N_, DomainError, InvalidInput
from .extensions import db
from .models import Event, Run
from .models.base import utcnow
from .plan import Move, _product_for, plan
from .runs import grade_run


def tick(run: Run | int, *, ignore_delay: bool = False, limit: int = 200) -> int:
    """Let the bots act on what is due; return how many actions they performed.

    With a delay (a class), at most one action per tick, so students see each one happen."""
    run_id = run if isinstance(run, int) else run.id
    done = 0
    while done < limit:
        db.session.rollback()
        run = db.session.get(Run, run_id)
        if run is None or run.status != "running" or not run.bots_enabled:
            break
        if not ignore_delay and not _delay_passed(run):
            break
        if not _act_once(run):
            _bookmark(run)
            break
        done += 1
        if not ignore_delay:
            break
    return done


def due(run: Run, now=None) -> bool:
    """Cheap test for a poll: could a bot have something to do now?"""
    if run.status != "running" or not run.bots_enabled:
        return False
    now = now or utcnow()
    return run.last_event_id != run.bots_checked_event or (
        run.bots_next_at is not None and now >= run.bots_next_at)


def maybe_tick(run: Run) -> None:
    """For pages that refresh often (console polls, the instructor's board): let the bots act
    when something may be due, and do nothing otherwise."""
    if due(run) and _delay_passed(run):
        tick(run.id)


def _bookmark(run: Run) -> None:
    """Remember that the bots are idle until a new event or a timed step."""
    graded = grade_run(run)
    minutes = [s.at_minute for s in graded.next_steps() if s.at_minute is not None]
    next_at = None
    if minutes and run.started_at:
        next_at = run.started_at + timedelta(seconds=run.paused_seconds or 0,
                                             minutes=min(minutes))
    db.session.execute(update(Run).where(Run.id == run.id).values(
        bots_checked_event=run.last_event_id, bots_next_at=next_at))
    db.session.commit()


def _delay_passed(run: Run) -> bool:
    last = db.session.scalar(select(Event.at).where(Event.run_id == run.id, Event.ok.is_(True))
                             .order_by(Event.id.desc()).limit(1)) or run.started_at
    return utcnow() - last >= timedelta(seconds=run.bot_delay_seconds or 0)


def _act_once(run: Run) -> bool:
    """Perform the first move of the plan that a bot plays; False when there is none."""
    planned = plan(run, grade_run(run))
    for move in planned.moves:
        if move.bot and perform_move(run, move):
            return True
        run = db.session.get(Run, run.id)
    return any(pass_over(run, step, later) for step, later in planned.passed_over())


def pass_over_params(step, why) -> dict:
    """The system mark that passes a step over; its reason is the later step's id or the
    world's refusal, stored untranslated ("json:{msg, args}") and read in the reader's
    language."""
    if isinstance(why, DomainError):
        reason = "json:" + json.dumps(why.to_json(), ensure_ascii=False)
    elif why is None:
        reason = "json:" + json.dumps({"msg": NO_DOCUMENT, "args": {"action": step.action}})
    else:
        reason = why.id
    return {"step": step.id, "verdict": "skipped", "reason": reason}


def pass_over(run: Run, step, why) -> bool:
    """Record that a step can no longer happen (why: the later step done first, or the world's
    refusal), so the run goes on (grading leaves it out of the maximum, with the reason)."""
    try:
        perform(run.id, Actor("system", "system"), "mark_step", None, pass_over_params(step, why),
                request_key=f"pass:{run.id}:{step.id}", record_refusal=False)
    except DomainError:
        return False
    return True


NO_DOCUMENT = N_("nothing is left for “%(action)s” to act on.")


def fallback_params(run: Run, move: Move, error: InvalidInput) -> dict | None:
    """What a bot sends instead when the world refuses a value that came from the step's check
    or the script's `with` (a first-edition check of 20 after a stock loss; an order for a
    product a student did not publish): the engine's own default, or what the mall has. Grading
    tells what that was worth. None: nothing else to try."""
    params = {k: v for k, v in move.params.items()
              if k != error.field and k not in move.derived}
    if error.field == "sku" and "lines" in move.params:
        product = _product_for(run, None)
        if product is None:
            return None
        params["lines"] = [{"sku": product.sku, "qty": line.get("qty", 1)}
                           for line in move.params["lines"]][:1]
    elif error.field not in move.params:
        return None
    return params


def perform_move(run: Run, move: Move, kind: str = "bot") -> bool:
    """A bot performs a planned move; False when the world refused it meanwhile. kind "guide":
    a learner asked "show me" (grading gives such a step no points)."""
    key = f"bot:{run.id}:{move.step.id}:{move.action}" if move.doc is None else None
    try:
        perform(run.id, Actor(move.role, kind), move.action, move.doc, move.params,
                request_key=key, record_refusal=False)
    except InvalidInput as error:
        params = fallback_params(run, move, error)
        if params is None:
            return False
        try:
            perform(run.id, Actor(move.role, kind), move.action, move.doc, params,
                    request_key=key, record_refusal=False)
        except DomainError:
            return False
    except DomainError:
        return False
    return True


def play_step(run: Run, step) -> Move | None:
    """"Show me": a bot performs this step (a Step or its id) for a learner, or what the world
    needs first, whoever's role it is. The move performed, or None."""
    for move in plan(run, grade_run(run)).for_step(getattr(step, "id", step)):
        if perform_move(run, move, kind="guide"):
            return move
    return None
