"""The live board of an assignment (one row per group's run), its run clock and the instructor's
injections into one group's run or all of them."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select

from .. import bots
from .. import runs as run_clock
from ..engine import Actor, perform
from ..engine.registry import REGISTRY
from ..errors import N_, DomainError, NotAllowed
from ..extensions import db
from ..models import Document, Group, Product, Run
from ..runs import CLOCK_ACTIONS, grade_run, scenario_of
from . import repair
from .grades import Runs, final

INJECTIONS = ("inject_stock_loss", "inject_payment_failure", "inject_return_request",
              "inject_notice")

# What the instructor may do to a run's clock in each of its states (lab/runs.py refuses the
# rest): the board shows these buttons only.
CLOCK = {"start": run_clock.start, "pause": run_clock.pause, "resume": run_clock.resume,
         "stop": run_clock.finish}
CLOCK_OPS = {"ready": ("start", "stop"), "running": ("pause", "stop"),
             "paused": ("resume", "stop"), "finished": ()}


def group_numbers(runs: list[Run]) -> dict[int, int | None]:
    """run id → its group's number, in one query."""
    ids = {r.group_id for r in runs if r.group_id}
    numbers = dict(db.session.execute(select(Group.id, Group.number)
                                      .where(Group.id.in_(ids))).all()) if ids else {}
    return {r.id: numbers.get(r.group_id) for r in runs}


def board_rows(assignment) -> list[dict]:
    """Per group: progress, the steps expected now and who holds their role, mistakes, score,
    playing minutes, the time of its last move (`last`, None: none yet), and the flag of a
    stalled group with what the guide says it waits for (repair.flag: read from the events
    graded here, no query of its own unless flagged).
    Bots of groups nobody watches get their turn here."""
    runs = list(assignment.runs)
    for run in runs:
        bots.maybe_tick(run)  # may commit: what the rows show is read after
    runs = list(db.session.scalars(select(Run).where(Run.id.in_([r.id for r in runs]))
                                   .order_by(Run.id))) if runs else []
    numbers = group_numbers(runs)
    known = Runs.of(runs)
    rows = []
    for run in runs:
        events = known.events[run.id]
        graded = grade_run(run, events)
        holders: dict[str, list[str]] = {}
        for seat in known.seats[run.id]:
            holders.setdefault(seat.role, []).append(known.users[seat.user_id].display_name)
        current = [{"step": s, "holder": ", ".join(holders.get(s.role, []))}
                   for s in graded.next_steps()]
        rows.append({"run": run, "group": numbers[run.id], "met": graded.met_count,
                     "total": len(graded.steps), "mistakes": len(graded.mistakes),
                     "current": current,
                     "score": final(run, graded, known.adjustments[run.id]).score,
                     "max": graded.max_score,
                     "elapsed": int(run.elapsed().total_seconds() // 60),
                     "limit": run.time_limit_minutes, "completed": graded.completed,
                     "last": max((e.at for e in events if e.ok and e.action not in
                                  CLOCK_ACTIONS), default=None),
                     "ops": CLOCK_OPS.get(run.status, ())})
        rows[-1].update(flag=repair.flag(run, graded, events), holders=holders,
                        open=len(repair.open_steps(graded)))
    return rows


def clock(assignment, op: str, run_id: int | None = None, by: int | None = None) -> int:
    """Start, pause, resume or stop one run or every run of the assignment (runs where the
    operation does not apply are left as they are), as the instructor `by`: each change is an
    event of its run. Flushes (the request commits); returns how many changed."""
    action = CLOCK[op]
    changed = 0
    for run in assignment.runs:
        if run_id is not None and run.id != run_id:
            continue
        try:
            action(run, by=by)
            changed += 1
        except NotAllowed:
            continue
    db.session.flush()
    return changed


def injection_choices(assignment) -> dict[str, list[str]]:
    """What the injection forms offer: the products and the orders of the assignment's runs."""
    run_ids = [r.id for r in assignment.runs]
    skus = [str(p["sku"]) for p in scenario_of(assignment.runs[0]).world.get("products") or []] \
        if run_ids else []
    if run_ids:
        skus += [s for s in db.session.scalars(select(Product.sku).where(
            Product.run_id.in_(run_ids)).distinct()) if s not in skus]
    orders = sorted(db.session.scalars(select(Document.number).where(
        Document.run_id.in_(run_ids), Document.kind == "order").distinct())) if run_ids else []
    return {"skus": skus, "orders": orders}


@dataclass
class Injected:
    done: int = 0
    refused: list[str] = field(default_factory=list)  # one line per group that refused it


def inject(assignment, name: str, run_id: int | None, number: str, params: dict,
           user_id: int, key: str | None = None) -> Injected:
    """Perform the injection `name` as the instructor in one group's run (run_id) or in every
    run of the assignment; each run is its own transaction (one group refusing, e.g. because
    its order is not paid yet, does not stop the others)."""
    if name not in INJECTIONS:
        raise NotAllowed(N_("There is no action called %(name)s."), name=name)
    action = REGISTRY[name]
    runs = [r for r in assignment.runs if run_id is None or r.id == run_id]
    numbers = group_numbers(runs)
    outcome = Injected()
    for run in runs:
        doc = None
        if action.on:
            doc = db.session.scalar(select(Document).where(Document.run_id == run.id,
                                                           Document.number == number.strip()))
            if doc is None:
                outcome.refused.append(_("group %(n)s: no document %(number)s",
                                         n=numbers[run.id], number=number))
                continue
        try:
            perform(run.id, Actor("instructor", "instructor", user_id), name, doc, params,
                    record_refusal=False, request_key=f"{key}-{run.id}" if key else None)
            outcome.done += 1
        except DomainError as error:
            outcome.refused.append(f"{_('Group %(n)s', n=numbers[run.id])}: {error.message}")
    return outcome
