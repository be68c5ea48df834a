"""Grading: a pure function of (scenario, events). No database, no clock: the same inputs always
give the same grade, so a run can be regraded from its stored scenario text and its event log.

Each accepted event (in log order) is matched to the first unresolved step with its action and
role, in its case:

- its dependencies resolved before it and its checks true: the step is **met** (its points);
- its dependencies resolved but a check false: the step is **missed**, with the reason
  ("Quantity should be 20, not 500"); the steps after it can still be met;
- its dependencies not resolved yet: the step is **missed** as out of order, naming the step
  that comes first;
- no unresolved step wants it: a student's event is **not in the script** (listed, and it costs
  `scoring.unscripted_penalty`).

A student's refused attempt is a **mistake** (`scoring.mistake_penalty`), but what refusals can
cost is capped, so that one student clicking into a wall cannot zero the group's grade: per
student, at most `scoring.max_mistakes_per_step` refusals count at each step (the step the
attempt was at: the first open step of its action, role and case; an action no step has is its
own "step"), and at most `scoring.max_mistakes_per_student` in the run. Refusals beyond a cap
are kept in `mistakes` and listed as not counted (`Grade.capped`, with the reason).

Checks compare with the world values noted on the event at its moment (`$shortfall`, …).
An instructor's `mark_step` event resolves a step by hand: done (its points) or skipped (out of
the maximum). A step is resolved when met, missed or skipped; the run is complete when every
step is. Every point lost is a `Loss` with a reason a student can read (a stored message, shown
in the reader's language by lab.errors.render)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime

from .engine import registry
from .errors import N_, render
from .scenario import COMPARISON, Scenario, Step, check_passes, resolve

# Events of people who are not playing: injections, the run's clock, marks.
NOT_PLAYING = ("instructor", "system")
MARK_STEP = "mark_step"
GUIDE = "guide"  # a bot doing a step because the learner asked "show me"
NEEDED = "_needed"  # noted on an action the world needed first for a step: not "unscripted"


@dataclass(frozen=True)
class EventView:
    """What grading needs of an event (built from Event rows or by hand in tests)."""
    id: int
    action: str
    role: str | None
    at: datetime
    ok: bool = True
    case_id: int | None = None
    user_id: int | None = None
    actor: str = "student"
    params: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)
    error: dict | None = None
    world: dict | None = None

    @classmethod
    def of(cls, event) -> EventView:
        return cls(id=event.id, action=event.action, role=event.role, at=event.at, ok=event.ok,
                   case_id=event.case_id, user_id=event.user_id, actor=event.actor,
                   params=event.params or {}, result=event.result or {}, error=event.error,
                   world=getattr(event, "world", None))


def message(msg: str, **args) -> dict:
    """A reason, stored like a refusal: untranslated, shown in the reader's language."""
    return {"msg": msg, "args": args}


@dataclass
class StepResult:
    step: Step
    met: bool = False
    event: EventView | None = None  # the event that met or missed it
    points: float = 0
    status: str = "pending"  # met | missed | skipped | pending
    reason: dict | None = None  # why it was missed or skipped, or how it was marked

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def resolved(self) -> bool:
        return self.status != "pending"

    @property
    def reason_text(self) -> str:
        return render(self.reason) if self.reason else ""


@dataclass
class Loss:
    """Points lost, and why."""
    points: float
    reason: dict
    kind: str  # step | mistake | unscripted | late
    step_id: str | None = None
    event: EventView | None = None

    def __post_init__(self):
        self.points = _num(self.points)

    @property
    def text(self) -> str:
        return render(self.reason)


@dataclass
class Capped:
    """Refused attempts of one student that cost nothing because a cap was reached: at one
    step (step_id, or the action when no step has it) or over the whole run (step_id None,
    action None)."""
    user_id: int | None
    step_id: str | None
    action: str | None
    limit: int
    events: list[EventView] = field(default_factory=list)
    reason: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.events)

    @property
    def event(self) -> EventView:
        """The first attempt not counted (whose it was)."""
        return self.events[0]

    @property
    def text(self) -> str:
        return render({**self.reason, "args": {**self.reason["args"], "n": self.count}})


@dataclass
class Grade:
    scenario: Scenario
    steps: list[StepResult]
    mistakes: list[EventView]
    started_at: datetime | None
    finished_at: datetime | None  # when the last step was resolved, if all were
    score: float
    max_score: float
    late_minutes: float
    penalty: float
    per_user: dict
    unscripted: list[EventView] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    capped: list[Capped] = field(default_factory=list)  # refusals that cost nothing (caps)

    @property
    def counted_mistakes(self) -> list[EventView]:
        """The refused attempts that cost points (mistakes less those over a cap)."""
        over = {e.id for c in self.capped for e in c.events}
        return [e for e in self.mistakes if e.id not in over]

    @property
    def completed(self) -> bool:
        return all(s.resolved for s in self.steps)

    @property
    def met_count(self) -> int:
        return sum(1 for s in self.steps if s.met)

    @property
    def resolved_count(self) -> int:
        return sum(1 for s in self.steps if s.resolved)

    def result(self, step_id: str) -> StepResult:
        return next(s for s in self.steps if s.id == step_id)

    def next_steps(self) -> list[Step]:
        """Steps not resolved whose dependencies all are: what the run expects now."""
        done = {s.id for s in self.steps if s.resolved}
        return [s.step for s in self.steps
                if not s.resolved and all(d in done for d in s.step.deps)]

    def case_ids(self) -> dict[str, int]:
        """Case-starting step id → the case its event started."""
        return {s.id: s.event.case_id for s in self.steps
                if s.resolved and s.step.starts_case and s.event is not None}

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario.id, "completed": self.completed,
            "score": self.score, "max_score": self.max_score,
            "mistakes": len(self.mistakes), "penalty": self.penalty,
            "late_minutes": round(self.late_minutes, 2),
            "steps": [{"id": s.id, "action": s.step.action, "role": s.step.role,
                       "met": s.met, "status": s.status, "points": s.points,
                       "max_points": s.step.points,
                       "reason": render(s.reason) if s.reason else "",
                       "at": s.event.at.isoformat() if s.event else None,
                       "by_user": s.event.user_id if s.event else None,
                       "by": s.event.actor if s.event else None} for s in self.steps],
            "losses": [{"points": loss.points, "kind": loss.kind, "step": loss.step_id,
                        "reason": loss.text} for loss in self.losses],
            "unscripted": [{"action": e.action, "role": e.role, "by_user": e.user_id}
                           for e in self.unscripted],
            "capped": [{"by_user": c.user_id, "step": c.step_id, "action": c.action,
                        "not_counted": c.count, "limit": c.limit, "reason": c.text}
                       for c in self.capped],
        }


# ---- checks ---------------------------------------------------------------------------------

def _value(event: EventView, key: str):
    if key in event.result:
        return event.result[key]
    return event.params.get(key)


SYMBOLS = {">=": "≥ ", "<=": "≤ ", ">": "> ", "<": "< ", "==": "", "!=": "≠ "}


def shown(expected, world: dict | None = None) -> str:
    """What a check expects, for people: 20, ≥ 20, < 1500."""
    value = resolve(expected, world)
    if value is None:
        return str(expected)
    if isinstance(value, str):
        match = COMPARISON.match(value)
        if match:
            return SYMBOLS[match.group(1)] + match.group(2)
    return str(_num(value)) if isinstance(value, (int, float)) and not isinstance(
        value, bool) else str(value)


def failed_check(step: Step, values, world: dict | None) -> tuple[str, object, object] | None:
    """The first check of a step that values (a mapping or an event) contradict:
    (field, expected, actual), or None when all pass. Fields absent from a mapping are
    skipped (they are checked later, on the result)."""
    for key, expected in step.check.items():
        if isinstance(values, EventView):
            actual = _value(values, key)
        elif key in values and values[key] is not None:
            actual = values[key]
        else:
            continue
        if not check_passes(expected, actual, world):
            return key, expected, actual
    return None


def check_reason(step: Step, failure, world: dict | None) -> dict:
    key, expected, actual = failure
    if isinstance(actual, (int, float)) and not isinstance(actual, bool):
        actual = _num(actual)
    spec = registry.get(step.action)
    field_ = spec.input(key) if spec is not None else None

    def named(value: str):  # a choice is shown by its label ({"choice": code}), not its code
        return {"choice": value} if field_ is not None and field_.kind == "choice" else value
    return message(N_("%(field)s should be %(expected)s, not %(actual)s (step %(number)s "
                      "“%(action)s”)."), field=key, expected=named(shown(expected, world)),
                   actual="—" if actual is None else named(str(actual)), number=step.number,
                   action=step.action)


def order_reason(scenario: Scenario, step: Step, resolved: set[str]) -> dict:
    first = next(scenario.step(d) for d in step.deps if d not in resolved)
    return message(N_("Out of order: step %(number)s “%(action)s” (%(role)s) comes first."),
                   number=first.number, action=first.action, role=first.role)


# ---- the grade --------------------------------------------------------------------------------

def grade(scenario: Scenario, events: list[EventView], started_at: datetime | None = None,
          now: datetime | None = None) -> Grade:
    ordered = sorted(events, key=lambda e: e.id)
    results = {s.id: StepResult(s) for s in scenario.steps}
    cases: dict[str, int] = {}  # case-starting step id → case id of the event that resolved it
    resolved_at: dict[str, int] = {}  # step id → id of the event that resolved it
    unscripted: list[EventView] = []
    at_step: dict[int, str | None] = {}  # refused student event id → the step it was at

    def resolve_step(result: StepResult, event: EventView, status: str, reason=None):
        result.status, result.event, result.reason = status, event, reason
        result.met = status == "met"
        result.points = result.step.points if result.met else 0
        resolved_at[result.id] = event.id
        if result.step.starts_case and event.case_id is not None:
            cases[result.id] = event.case_id

    for event in ordered:
        if not event.ok:
            if event.actor == "student":
                at_step[event.id] = _step_at(scenario, results, event, cases)
            continue
        if event.action == MARK_STEP:
            _mark(results, event, resolve_step)
            continue
        if event.actor in NOT_PLAYING:
            continue
        candidates = [s for s in scenario.steps
                      if not results[s.id].resolved and _fits(s, event, cases)]
        if not candidates:
            if event.actor == "student" and not (event.world or {}).get(NEEDED):
                unscripted.append(event)
            continue
        in_order = [s for s in candidates
                    if all(d in resolved_at and resolved_at[d] < event.id for d in s.deps)]
        passing = [s for s in in_order if failed_check(s, event, event.world) is None]
        if passing and event.actor == GUIDE:
            step = passing[0]
            resolve_step(results[step.id], event, "met", message(
                N_("Step %(number)s “%(action)s” was done by “Show me”: no points."),
                number=step.number, action=step.action))
            results[step.id].points = 0
        elif passing:
            resolve_step(results[passing[0].id], event, "met")
        elif in_order:
            step = in_order[0]
            resolve_step(results[step.id], event, "missed",
                         check_reason(step, failed_check(step, event, event.world), event.world))
        else:
            step = candidates[0]
            done = {d for d in resolved_at if resolved_at[d] < event.id}
            resolve_step(results[step.id], event, "missed", order_reason(scenario, step, done))

    steps = [results[s.id] for s in scenario.steps]
    mistakes = [e for e in ordered if not e.ok and e.actor == "student"]
    capped = _caps(scenario, mistakes, at_step)
    over = {e.id for cap in capped for e in cap.events}
    counted = [e for e in mistakes if e.id not in over]
    completed = all(s.resolved for s in steps)
    finished = max((s.event.at for s in steps if s.event), default=None) if completed else None
    late = 0.0
    if scenario.time_limit_minutes and started_at:
        end = finished or now or (ordered[-1].at if ordered else started_at)
        over = (end - started_at).total_seconds() / 60 - scenario.time_limit_minutes
        late = max(0.0, over)
    late_penalty = math.ceil(late) * scenario.late_penalty_per_minute if late > 0 else 0
    losses = _losses(scenario, steps, counted, unscripted, late, late_penalty)
    penalty = (len(counted) * scenario.mistake_penalty + late_penalty
               + len(unscripted) * scenario.unscripted_penalty)
    earned = sum(s.points for s in steps)
    maximum = sum(s.step.points for s in steps if s.status != "skipped")
    return Grade(scenario=scenario, steps=steps, mistakes=mistakes, started_at=started_at,
                 finished_at=finished, score=_num(max(0.0, earned - penalty)),
                 max_score=_num(maximum), late_minutes=late, penalty=_num(penalty),
                 per_user=_per_user(scenario, steps, mistakes, unscripted, counted),
                 unscripted=unscripted, losses=losses, capped=capped)


def _step_at(scenario: Scenario, results: dict, event: EventView, cases: dict) -> str | None:
    """The step a refused attempt was at: the first open step it would have resolved (its
    action, role and case), else the first step of its action and role, else None."""
    fitting = [s for s in scenario.steps if _fits(s, event, cases)]
    open_ = [s for s in fitting if not results[s.id].resolved]
    chosen = (open_ or fitting or [None])[0]
    return chosen.id if chosen is not None else None


def _caps(scenario: Scenario, mistakes: list[EventView],
          at_step: dict[int, str | None]) -> list[Capped]:
    """Which refusals cost nothing: per student, those beyond max_mistakes_per_step at one step
    (an action no step has counts as its own step) and beyond max_mistakes_per_student in the
    run, in the order they happened."""
    per_step, per_student = scenario.max_mistakes_per_step, scenario.max_mistakes_per_student
    seen_step: dict[tuple, int] = {}
    seen_user: dict = {}
    capped: dict[tuple, Capped] = {}
    for e in mistakes:
        step_id = at_step.get(e.id)
        where = (e.user_id, step_id, None if step_id else e.action)
        if seen_step.get(where, 0) >= per_step:
            cap = capped.get(where)
            if cap is None:
                step = scenario.step(step_id) if step_id else None
                reason = message(N_("Refused attempts not counted at step %(number)s "
                                    "“%(action)s”: %(n)s (at most %(max)s count per student "
                                    "and step)."), number=step.number, action=step.action,
                                 max=per_step) if step else message(
                    N_("Refused attempts of “%(action)s” not counted: %(n)s (at most %(max)s "
                       "count per student and action)."), action=e.action, max=per_step)
                cap = capped[where] = Capped(e.user_id, step_id, where[2], per_step,
                                             reason=reason)
            cap.events.append(e)
            continue
        seen_step[where] = seen_step.get(where, 0) + 1
        if seen_user.get(e.user_id, 0) >= per_student:
            where = (e.user_id, None, None)
            if where not in capped:
                capped[where] = Capped(e.user_id, None, None, per_student, reason=message(
                    N_("Refused attempts not counted over the ceiling: %(n)s (at most %(max)s "
                       "count per student in a run)."), max=per_student))
            capped[where].events.append(e)
            continue
        seen_user[e.user_id] = seen_user.get(e.user_id, 0) + 1
    return list(capped.values())


def _fits(step: Step, event: EventView, cases: dict[str, int]) -> bool:
    if step.action != event.action:
        return False
    if step.role and event.role and step.role != event.role:
        return False
    if step.case is not None and not step.starts_case:
        return cases.get(step.case) == event.case_id
    return True


def _mark(results: dict, event: EventView, resolve_step) -> None:
    """An instructor resolved a step by hand: done (its points) or skipped (not counted)."""
    result = results.get(str(event.params.get("step", "")))
    if result is None or result.resolved:
        return
    verdict = event.params.get("verdict")
    later = next((r.step for r in results.values() if r.id == event.params.get("reason")), None)
    why = _stored(event.params.get("reason"))
    if event.actor == "system" and why is not None:
        reason = message(N_("Passed over, it can no longer be done: %(why)s"), why=why)
    elif event.actor == "system" and later is not None:
        reason = message(N_("Passed over: step %(number)s “%(action)s” was done before it, and "
                            "now it can no longer be done."), number=later.number,
                         action=later.action)
    else:
        reason = message(N_("Marked %(verdict)s by the instructor: %(reason)s"),
                         verdict=verdict, reason=event.params.get("reason") or "—")
    resolve_step(result, event, "met" if verdict == "done" else "skipped", reason)


def _stored(reason) -> dict | None:
    """A system mark's reason may be a stored refusal ("json:{msg, args}"), read later in the
    reader's language."""
    if isinstance(reason, str) and reason.startswith("json:"):
        try:
            value = json.loads(reason[5:])
        except ValueError:
            return None
        return value if isinstance(value, dict) and value.get("msg") else None
    return None


def _losses(scenario, steps, mistakes, unscripted, late, late_penalty) -> list[Loss]:
    losses = []
    for s in steps:
        if (s.status == "missed" or (s.met and s.points < s.step.points)) and s.step.points:
            losses.append(Loss(s.step.points - s.points, s.reason, "step", s.id, s.event))
        elif s.status == "pending" and s.step.points:
            losses.append(Loss(s.step.points, message(
                N_("Step %(number)s “%(action)s” (%(role)s) was not done."),
                number=s.step.number, action=s.step.action, role=s.step.role), "step", s.id))
    if scenario.mistake_penalty:
        for e in mistakes:
            losses.append(Loss(scenario.mistake_penalty, e.error or message(
                N_("A refused attempt.")), "mistake", None, e))
    if scenario.unscripted_penalty:
        for e in unscripted:
            losses.append(Loss(scenario.unscripted_penalty, message(
                N_("“%(action)s” is not in the script."), action=e.action), "unscripted",
                None, e))
    if late_penalty:
        losses.append(Loss(late_penalty, message(
            N_("%(minutes)s minutes over the time limit."), minutes=math.ceil(late)), "late"))
    return losses


def _per_user(scenario, steps, mistakes, unscripted, counted) -> dict:
    """Each student's part: points of the steps they met less their counted mistakes;
    `mistakes` counts every refused attempt, `not_counted` those over a cap."""
    per_user: dict = {}

    def entry(user_id):
        return per_user.setdefault(user_id, {"points": 0.0, "steps": [], "mistakes": 0,
                                             "not_counted": 0, "missed": []})
    for s in steps:
        if s.event is None or s.event.user_id is None or s.event.actor != "student":
            continue
        if s.met:
            entry(s.event.user_id)["points"] += s.points
            entry(s.event.user_id)["steps"].append(s.id)
        elif s.status == "missed":
            entry(s.event.user_id)["missed"].append(s.id)
    counted_ids = {e.id for e in counted}
    for e in mistakes:
        if e.user_id is not None:
            entry(e.user_id)["mistakes"] += 1
            if e.id in counted_ids:
                entry(e.user_id)["points"] -= scenario.mistake_penalty
            else:
                entry(e.user_id)["not_counted"] += 1
    for e in unscripted:
        if e.user_id is not None and scenario.unscripted_penalty:
            entry(e.user_id)["points"] -= scenario.unscripted_penalty
    return per_user


def _num(value: float):
    return int(value) if float(value).is_integer() else round(value, 2)
