"""Grading: a pure function of (scenario, events). No database, no clock: the same inputs always
give the same grade, so a run can be regraded from its stored scenario text and its event log.

A step is met by the first unused accepted event with the step's action, performed after the
step's dependencies were met, in the step's case, with its checks true."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from .scenario import COMPARISON, Scenario, Step


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

    @classmethod
    def of(cls, event) -> "EventView":
        return cls(id=event.id, action=event.action, role=event.role, at=event.at, ok=event.ok,
                   case_id=event.case_id, user_id=event.user_id, actor=event.actor,
                   params=event.params or {}, result=event.result or {}, error=event.error)


@dataclass
class StepResult:
    step: Step
    met: bool = False
    event: EventView | None = None
    points: float = 0

    @property
    def id(self) -> str:
        return self.step.id


@dataclass
class Grade:
    scenario: Scenario
    steps: list[StepResult]
    mistakes: list[EventView]
    started_at: datetime | None
    finished_at: datetime | None  # when the last step was met, if all were
    score: float
    max_score: float
    late_minutes: float
    penalty: float
    per_user: dict

    @property
    def completed(self) -> bool:
        return all(s.met for s in self.steps)

    @property
    def met_count(self) -> int:
        return sum(1 for s in self.steps if s.met)

    def next_steps(self) -> list[Step]:
        """Steps not met whose dependencies are all met: what the run expects now."""
        met = {s.id for s in self.steps if s.met}
        return [s.step for s in self.steps if not s.met and all(d in met for d in s.step.deps)]

    def case_ids(self) -> dict[str, int]:
        return {s.id: s.event.case_id for s in self.steps
                if s.met and s.step.starts_case and s.event is not None}

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario.id, "completed": self.completed,
            "score": self.score, "max_score": self.max_score,
            "mistakes": len(self.mistakes), "penalty": self.penalty,
            "late_minutes": round(self.late_minutes, 2),
            "steps": [{"id": s.id, "action": s.step.action, "role": s.step.role,
                       "met": s.met, "points": s.points, "max_points": s.step.points,
                       "at": s.event.at.isoformat() if s.event else None,
                       "by_user": s.event.user_id if s.event else None,
                       "by": s.event.actor if s.event else None} for s in self.steps],
        }


def _value(event: EventView, key: str):
    if key in event.result:
        return event.result[key]
    return event.params.get(key)


def check_passes(expected, actual) -> bool:
    if isinstance(expected, str):
        match = COMPARISON.match(expected)
        if match:
            try:
                number = float(actual)
            except (TypeError, ValueError):
                return False
            op, limit = match.group(1), float(match.group(2))
            return {">=": number >= limit, "<=": number <= limit, ">": number > limit,
                    "<": number < limit, "==": number == limit, "!=": number != limit}[op]
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, bool) or actual is None:
        return expected == actual
    return str(expected).strip() == str(actual).strip()


def grade(scenario: Scenario, events: list[EventView], started_at: datetime | None = None,
          now: datetime | None = None) -> Grade:
    ordered = sorted(events, key=lambda e: e.id)
    results = {s.id: StepResult(s) for s in scenario.steps}
    cases: dict[str, int] = {}  # case-starting step id → case id of the event that met it
    used: set[int] = set()
    met_at: dict[str, int] = {}  # step id → event id that met it
    for event in ordered:
        if not event.ok:
            continue
        for step in scenario.steps:
            result = results[step.id]
            if result.met or event.id in used or step.action != event.action:
                continue
            if step.role and event.role and step.role != event.role:
                continue
            if not all(dep in met_at and met_at[dep] < event.id for dep in step.deps):
                continue
            if step.case is not None and not step.starts_case:
                if step.case not in cases or cases[step.case] != event.case_id:
                    continue
            if not all(check_passes(v, _value(event, k)) for k, v in step.check.items()):
                continue
            result.met, result.event, result.points = True, event, step.points
            used.add(event.id)
            met_at[step.id] = event.id
            if step.starts_case:
                cases[step.id] = event.case_id
            break
    mistakes = [e for e in ordered if not e.ok and e.actor != "bot"]
    steps = [results[s.id] for s in scenario.steps]
    completed = all(s.met for s in steps)
    finished = max((s.event.at for s in steps if s.event), default=None) if completed else None
    late = 0.0
    if scenario.time_limit_minutes and started_at:
        end = finished or now or (ordered[-1].at if ordered else started_at)
        over = (end - started_at).total_seconds() / 60 - scenario.time_limit_minutes
        late = max(0.0, over)
    late_penalty = math.ceil(late) * scenario.late_penalty_per_minute if late > 0 else 0
    penalty = len(mistakes) * scenario.mistake_penalty + late_penalty
    earned = sum(s.points for s in steps)
    score = max(0.0, earned - penalty)
    per_user: dict = {}
    for s in steps:
        if s.event is not None and s.event.user_id is not None:
            entry = per_user.setdefault(s.event.user_id, {"points": 0.0, "steps": [],
                                                          "mistakes": 0})
            entry["points"] += s.points
            entry["steps"].append(s.id)
    for e in mistakes:
        if e.user_id is not None:
            entry = per_user.setdefault(e.user_id, {"points": 0.0, "steps": [], "mistakes": 0})
            entry["mistakes"] += 1
            entry["points"] -= scenario.mistake_penalty
    return Grade(scenario=scenario, steps=steps, mistakes=mistakes, started_at=started_at,
                 finished_at=finished, score=_num(score), max_score=_num(scenario.max_score),
                 late_minutes=late, penalty=_num(penalty), per_user=per_user)


def _num(value: float):
    return int(value) if float(value).is_integer() else round(value, 2)
