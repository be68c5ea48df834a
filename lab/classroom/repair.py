"""Repairs for instructors: find the groups that are stuck and say why, and resolve a step of a
group's run by hand.

- **Stalled groups** (`flag`): a running run with no accepted event for `STALL_MINUTES`, or whose
  last three refusals are the same action not done since (students clicking into the same wall;
  an instructor's mark answers the refusals before it).
  The flag carries the guide's answer for the group (`answer`): what the run expects now and
  what blocks it, from the one plan (lab/plan.py). A run the plan finds at a dead end (never
  supposed to happen) is flagged loudly: the plan is asked when a run stalls (a dead end makes
  no progress, so it always does) and right after an instructor's mark or injection. The board
  reads all this from the events it already loaded for grading, so a row that is not flagged
  costs no query, and the plan of a run is kept per run state (it changes only with an event,
  a minute of the clock or the status).
- **Marking a step** (`mark`): the instructor resolves an open step done (its points) or skipped
  (out of the maximum), with a reason. It is the engine's `mark_step` action, so it is an event:
  audited, graded and shown in the replay. The scenario layer refuses unknown and resolved
  steps (lab/rules.py), the engine a run that is not running.

Resetting a run to before a step is not offered yet: it needs the old events kept for audit
while grading, the replay and the exports read only the new ones (an archived state, or a new
run linked to the old one), which the models do not have."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app

from ..engine import Actor, perform
from ..extensions import db
from ..grading import MARK_STEP, NOT_PLAYING, Grade, StepResult
from ..models import Event, Run
from ..models.base import utcnow
from ..plan import plan
from ..runs import CLOCK_ACTIONS
from ..scenario import Step

REPEATED = 3  # the same action refused this many times in a row is a wall
CACHE_SIZE = 512


# ---- the guide's answer for a group -------------------------------------------------------------

def answer(run: Run, graded: Grade) -> dict:
    """What the guide would tell the group now, for the instructor: per step the run expects,
    its role and its state: "now" (it can be done now), "first" (what must be done first: a
    move of another role, maybe not in the script), "waiting" (a timed step: its minute),
    "passed" (the lab passes it over: a later step was done first) or "blocked" (the refusal,
    stored untranslated: `why`). And whether the run is at a dead end. Language-neutral, so it
    can be kept for the next refresh of the board."""
    planned = plan(run, graded)
    blocked = {step.id: why for step, why in planned.blocked}
    waiting = {step.id for step in planned.waiting}
    passed = {step.id: later for step, later in planned.passed_over()}
    steps = []
    for step in graded.next_steps():
        moves = planned.for_step(step.id)
        first = next((m for m in moves if m.gap), None)
        line = {"number": step.number, "action": step.action, "role": step.role,
                "by_bot": step.by == "bot"}
        if step.id in waiting:
            minute = step.at_minute
            line.update(state="waiting", minute=int(minute) if float(minute).is_integer()
                        else minute)
        elif step.id in passed and isinstance(passed[step.id], Step):
            line.update(state="passed", later=passed[step.id].number)
        elif step.id in passed:  # the bots will pass it over: the world can no longer do it
            why = passed[step.id]
            line.update(state="blocked", why=why.to_json() if why is not None else None)
        elif first is not None:
            line.update(state="first", first={
                "role": first.role, "action": first.action,
                "number": first.doc.number if first.doc is not None else ""})
        elif moves:
            line.update(state="now")
        else:
            why = blocked.get(step.id)
            line.update(state="blocked", why=why.to_json() if why is not None else None)
        steps.append(line)
    return {"dead_end": planned.dead_end, "steps": steps}


def cached_answer(run: Run, graded: Grade) -> dict:
    """answer(), kept per run state in this process: the board refreshes every few seconds,
    and a stalled run's state does not change between refreshes."""
    minute = int(run.elapsed().total_seconds() // 60)
    key = (run.id, run.started_at, run.last_event_id, run.status, minute)
    cache = current_app.extensions.setdefault("ecomlab_repair_answers", {})
    found = cache.get(key)
    if found is None:
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        found = cache[key] = answer(run, graded)
    return found


# ---- stalled groups ---------------------------------------------------------------------------

@dataclass
class Flag:
    """Why the board flags a group: stalled for `idle` minutes, and/or `wall`: the same action
    refused REPEATED times (the last refusal's stored message in `refusal`); `answer`: what
    the guide says the run waits for; a dead end when answer["dead_end"]."""
    idle: int | None = None
    wall: str | None = None
    times: int = REPEATED
    refusal: dict | None = None
    answer: dict = field(default_factory=dict)

    @property
    def dead_end(self) -> bool:
        return bool(self.answer.get("dead_end"))


def stall_minutes() -> float:
    return float(current_app.config.get("STALL_MINUTES", 5))


def flag(run: Run, graded: Grade, events: list[Event],
         now: datetime | None = None) -> Flag | None:
    """The flag of a group's run (None: nothing to flag), from the run's events (all of them,
    in order: the ones its grade was computed from)."""
    if run.status != "running" or graded.completed:
        return None
    now = now or utcnow()
    last = max((e.at for e in events if e.ok), default=None) or run.started_at or now
    idle = (now - last).total_seconds() / 60
    found = Flag()
    if idle >= stall_minutes():
        found.idle = int(idle)
    # An instructor's repair answers the refusals before it: only those after it count.
    repaired = max((e.id for e in events if e.ok and e.action == MARK_STEP
                    and e.actor == "instructor"), default=0)
    refusals = [e for e in events if not e.ok and e.actor == "student"
                and e.id > repaired][-REPEATED:]
    if len(refusals) == REPEATED and len({e.action for e in refusals}) == 1:
        action = refusals[0].action
        if not any(e.ok and e.action == action and e.id > refusals[0].id for e in events):
            found.wall, found.refusal = action, refusals[-1].error
    # Right after an instructor's mark or injection (what may change the script's course), the
    # plan is asked too, so a dead end shows at once.
    last_event = next((e for e in reversed(events) if e.ok), None)
    after_instructor = last_event is not None and last_event.actor in NOT_PLAYING and \
        last_event.action not in CLOCK_ACTIONS
    if found.idle is None and found.wall is None and not after_instructor:
        return None
    found.answer = cached_answer(run, graded)
    if found.idle is None and found.wall is None and not found.dead_end:
        return None
    return found


# ---- marking a step ---------------------------------------------------------------------------

def open_steps(graded: Grade) -> list[StepResult]:
    """The steps an instructor may mark: not resolved yet."""
    return [r for r in graded.steps if not r.resolved]


def marked_steps(graded: Grade) -> list[StepResult]:
    """The steps resolved by hand (by an instructor, or passed over by the lab)."""
    return [r for r in graded.steps if r.event is not None and r.event.action == MARK_STEP]


def mark_key(key: str) -> str:
    return f"mark-{key}"


def mark(run: Run, user_id: int, step_id: str, verdict: str, reason: str,
         key: str | None = None) -> Event:
    """Resolve a step of the run by hand, as the instructor `user_id`: one event, or a
    DomainError that changed nothing (an unknown or resolved step, a run that is not running,
    a missing reason). The same form sent twice (its one-time key) is done once."""
    request_key = mark_key(key) if key else None
    # perform() answers a resent form (its key) with AlreadyDone. An instructor's refusal is no mistake of the group: it is not recorded.
    return perform(run.id, Actor("instructor", "instructor", user_id), MARK_STEP, None,
                   {"step": step_id, "verdict": verdict, "reason": reason},
                   request_key=request_key, record_refusal=False)


def dead_end_after(run: Run) -> bool:
    """After a repair: is the run left where nobody can do anything? (The plan says it never
    is; the instructor is told at once if it happens.)"""
    run = db.session.get(Run, run.id)
    return run.status == "running" and plan(run).dead_end
