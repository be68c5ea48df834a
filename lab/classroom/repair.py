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

- **Resetting a run to before a step** (`reset`): the run is rebuilt from its own log. What it
  held moves to an archived run (status "archived", `archived_from_id`: kept for audit, its
  replay still readable), the opening world is built again, and every event before the one
  that resolved the step is done again through the engine (`redo`, dated as it was), refusals
  and the clock copied as they were. The run keeps its id, seats, clock, adjustments and
  reports, so the group's open pages go on at their next poll. The engine is where it can
  compensate: if an action cannot be done again to the same result (a certificate password of
  the student's own, which the lab does not keep), nothing changes and the instructor is told
  which step stands in the way. One transaction: all of it, or nothing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app

from sqlalchemy import select

from ..engine import Actor, perform, redo
from ..engine.ca import sign as ca_sign
from ..errors import N_, DomainError, InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..grading import MARK_STEP, NOT_PLAYING, Grade, StepResult
from ..models import Document, Event, Run
from ..models.base import utcnow
from ..plan import bot_password, plan
from ..runs import (CLOCK_ACTIONS, RESET_ACTION, build_world, events_of, forget_grades,
                    grade_run, lock, scenario_of)
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
    # perform() answers a resent form (its key) with AlreadyDone. An instructor's refusal is no
    # mistake of the group: it is not recorded.
    return perform(run.id, Actor("instructor", "instructor", user_id), MARK_STEP, None,
                   {"step": step_id, "verdict": verdict, "reason": reason},
                   request_key=request_key, record_refusal=False)


def dead_end_after(run: Run) -> bool:
    """After a repair: is the run left where nobody can do anything? (The plan says it never
    is; the instructor is told at once if it happens.)"""
    run = db.session.get(Run, run.id)
    return run.status == "running" and plan(run).dead_end


# ---- resetting a run to before a step --------------------------------------------------------

RESET = RESET_ACTION  # the event that tells the run's log (and its replay) it was reset
# The tables that hold a run's world and log (moved to the archive by a reset); every other
# table with a run_id stays with the run (tests/test_reset.py holds this list to the tables).
KEPT_WITH_RUN = frozenset({"run", "seat", "adjustment", "reflection"})
SECRET = "***"  # how the log keeps a password (lab/engine/core.py)


def resettable_steps(graded: Grade) -> list[StepResult]:
    """The steps a run can be reset to before: resolved by an event of the run."""
    return [r for r in graded.steps if r.resolved and r.event is not None]


def archives(run: Run) -> list[Run]:
    """What earlier resets of the run archived, newest first."""
    return list(db.session.scalars(select(Run).where(Run.archived_from_id == run.id)
                                   .order_by(Run.id.desc())))


def reset(run: Run, user_id: int, step_id: str, reason: str) -> Run:
    """Reset the group's run to before step `step_id`, as the instructor `user_id`, and return
    the archived run that keeps what it held; or raise a DomainError that changed nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("Give a reason: the group and the replay will see it."), "reason")
    db.session.rollback()
    try:
        lock(run)
        if run.status not in ("running", "paused"):
            raise NotAllowed(N_("The run is %(status)s: only a running or paused run can be "
                                "reset."), status=run.status)
        scenario = scenario_of(run)
        step = next((s for s in scenario.steps if s.id == step_id), None)
        if step is None:
            raise NotFound(N_("There is no step %(step)s in this scenario."), step=step_id)
        events = events_of(run)
        result = next(r for r in grade_run(run, events).steps if r.id == step.id)
        if not result.resolved or result.event is None:
            raise NotAllowed(N_("Step %(number)s is not done yet: there is nothing to reset "
                                "it to."), number=step.number)
        cut = result.event.id
        archive = _archive(run)
        _rebuild(run, archive, [e for e in events if e.id < cut], step)
        event = Event(run_id=run.id, at=utcnow(), user_id=user_id, actor="instructor",
                      role="instructor", action=RESET, ok=True, result={},
                      params={"step": step.id, "reason": reason, "archive": archive.id})
        db.session.add(event)
        db.session.flush()
        run.last_event_id = event.id
        db.session.commit()  # like perform(): the run's lock is held until here
    except DomainError:
        db.session.rollback()
        raise
    return archive


def _archive(run: Run) -> Run:
    """A new archived run that takes over everything the run holds (its world and its log)."""
    archive = Run(title=run.title, scenario_slug=run.scenario_slug,
                  scenario_text=run.scenario_text, mode=run.mode, kind=run.kind,
                  status="archived", workflow=run.workflow,
                  time_limit_minutes=run.time_limit_minutes,
                  bot_delay_seconds=run.bot_delay_seconds, bots_enabled=run.bots_enabled,
                  created_at=run.created_at, started_at=run.started_at,
                  paused_at=run.paused_at, paused_seconds=run.paused_seconds,
                  finished_at=utcnow(), last_event_id=run.last_event_id,
                  owner_id=run.owner_id, group_id=run.group_id, archived_from_id=run.id)
    db.session.add(archive)
    db.session.flush()
    for table in db.metadata.sorted_tables:
        if "run_id" in table.c and table.name not in KEPT_WITH_RUN:
            db.session.execute(table.update().where(table.c.run_id == run.id)
                               .values(run_id=archive.id))
    db.session.expire_all()
    forget_grades()
    return archive


def _rebuild(run: Run, archive: Run, kept: list[Event], step: Step) -> None:
    """The opening world again, then the kept part of the log: accepted actions done again
    through the engine (dated as they were, to the same result), the rest copied."""
    build_world(run, scenario_of(run))
    status, paused_at = run.status, run.paused_at
    run.status, run.paused_at = "running", None  # the engine acts only in a running run
    db.session.flush()
    numbers = dict(db.session.execute(select(Document.id, Document.number)
                                      .where(Document.run_id == archive.id)).all())
    password = None
    cases: dict[int | None, int | None] = {None: None}  # the archive's case → the run's
    for old in kept:
        doc_id = _same_document(run, numbers.get(old.document_id))
        if not old.ok or old.action in CLOCK_ACTIONS or old.actor == "instructor" \
                and old.action == RESET:
            db.session.add(Event(run_id=run.id, at=old.at, user_id=old.user_id,
                                 actor=old.actor, role=old.role, action=old.action,
                                 document_id=doc_id, case_id=cases.get(old.case_id),
                                 params=old.params,
                                 result=old.result, ok=old.ok, error=old.error,
                                 request_key=old.request_key, world=old.world))
            continue
        params = dict(old.params or {})
        if SECRET in params.values():
            password = password or _password(run, archive, old, step)
            params = {k: password if v == SECRET else v for k, v in params.items()}
        try:
            new = redo(run.id, Actor(old.role, old.actor, old.user_id), old.action, doc_id,
                       params, at=old.at, request_key=old.request_key)
        except DomainError as error:
            raise NotAllowed(N_("Nothing was reset: “%(action)s” at %(time)s cannot be done "
                                "again (%(why)s). Reset to a later step, or mark the steps "
                                "instead."), action=old.action,
                             time=old.at, why=error.message) from None
        same_case = cases.setdefault(old.case_id, new.case_id) == new.case_id
        if new.result != old.result or not same_case:
            raise NotAllowed(N_("Nothing was reset: “%(action)s” at %(time)s gives another "
                                "result when done again. Reset to a later step, or mark the "
                                "steps instead."), action=old.action,
                             time=old.at)
    db.session.flush()
    run.status, run.paused_at = status, paused_at
    run.bots_checked_event, run.bots_next_at = -1, None


def _same_document(run: Run, number: str | None) -> int | None:
    if number is None:
        return None
    return db.session.scalar(select(Document.id).where(Document.run_id == run.id,
                                                       Document.number == number))


def _password(run: Run, archive: Run, old: Event, step: Step) -> str:
    """The certificate password a logged action used: the lab keeps none, but a bot's (and the
    script's, which the guide shows) it can know; it must open the archived certificate."""
    candidate = bot_password(run)
    certificates = db.session.scalars(select(Document).where(
        Document.run_id == archive.id, Document.kind == "certificate")).all()
    for cert in certificates:
        try:
            ca_sign(cert.data["private_key"], candidate, "reset")
            return candidate
        except (DomainError, KeyError):
            continue
    raise NotAllowed(N_("Nothing was reset: “%(action)s” at %(time)s used a certificate password "
                        "the student chose, which the lab does not keep. Reset to before the "
                        "certificate was requested, or mark step %(number)s instead."),
                     action=old.action, time=old.at, number=step.number)
