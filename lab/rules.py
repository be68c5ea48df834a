"""The script's rules: the one place where a scenario run reconciles what the world allows with
what the script asks (SCENARIO_FORMAT.md, second edition).

The engine knows the world (stock, money, states) and asks this layer, through its `Script`
interface, before an action changes anything:

- **order**: an action that would meet a step whose predecessors are not resolved is refused
  (strict) naming the step that comes first, or accepted (loose) and graded out of order;
- **checks**: an action whose input or result contradicts its step's check is refused (strict)
  naming the field, the expected value and the step, or accepted (loose) and graded missed;
- **unscripted**: an action that meets no step is accepted (allow) and listed by grading, or
  refused (refuse) unless the world needs it for a step of the script.

The rules bind students (and the previews of what a student could do: inbox, guide). Bots are
never refused by the script: they play from the world as it is, and grading records what their
moves were worth, so a run never dead-ends on a bot. Every accepted action carries the world
values of its moment (`$shortfall`, …) for grading."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import select

from .engine import core, planner
from .errors import N_, InvalidInput, NotAllowed
from .extensions import db
from .grading import MARK_STEP, NEEDED, EventView, Grade, check_reason, failed_check
from .models import Document, DocumentLine, Product, Run
from .runs import current_grade, grade_run, scenario_of
from .scenario import WORLD_IN_TEXT, Step

STRICT_ACTORS = ("student", "viewer")  # viewer: a preview of what a student could do


# ---- one look at the world ---------------------------------------------------------------------
# The plan dry-runs several moves against the same world; each dry run asks this layer for the
# grade and the world values. Within one look (nothing changes: dry runs only), each is worked
# out once.

_look: ContextVar[dict | None] = ContextVar("look", default=None)


@contextmanager
def one_look(run: Run, graded: Grade):
    """Dry runs inside share the grade (the run's, as it stands) and the world values."""
    token = _look.set({("grade", run.id): graded})
    try:
        yield
    finally:
        _look.reset(token)


def grade_now(run: Run) -> Grade:
    look = _look.get()
    if look is None:
        return current_grade(run)
    if ("grade", run.id) not in look:
        look[("grade", run.id)] = current_grade(run)
    return look[("grade", run.id)]


# ---- world values ---------------------------------------------------------------------------

def world_values(run: Run, case_id: int | None, doc: Document | None = None) -> dict:
    """The quantities a check's $names stand for, in one case, now. A value of the kind of the
    document acted on is read from that document."""
    if case_id is None:
        return {}
    look = _look.get()
    if look is None:
        return _world_values(run, case_id, doc)
    key = ("world", run.id, case_id, doc.id if doc is not None else None)
    if key not in look:
        look[key] = _world_values(run, case_id, doc)
    return dict(look[key])


def _world_values(run: Run, case_id: int, doc: Document | None) -> dict:
    # Columns, not documents: the plan asks this for every move it dry-runs.
    docs = db.session.execute(
        select(Document.id, Document.kind, Document.state, Document.qty, Document.amount_cents,
               Document.product_id)
        .where(Document.run_id == run.id, Document.case_id == case_id)
        .order_by(Document.id)).all()

    def latest(kind, skip=("rejected",)):
        if doc is not None and doc.kind == kind:
            return doc
        found = [d for d in docs if d.kind == kind and d.state not in skip]
        return found[-1] if found else None

    def lines(of) -> list:  # (qty, product_id, stock) of a document's lines
        return db.session.execute(
            select(DocumentLine.qty, DocumentLine.product_id, Product.stock)
            .join(Product, Product.id == DocumentLine.product_id)
            .where(DocumentLine.document_id == of.id).order_by(DocumentLine.id)).all()

    values: dict = {}
    order, inquiry = latest("order"), latest("inquiry")
    if order is not None:
        ordered = lines(order)
        values["ordered"] = sum(qty for qty, _, _ in ordered)
        values["order_total"] = round((order.amount_cents or 0) / 100, 2)
        pending: dict[int, int] = {}
        for shortage in docs:
            if shortage.kind == "shortage" and shortage.state in ("open", "ordered"):
                pending[shortage.product_id] = pending.get(shortage.product_id, 0) + shortage.qty
        values["shortfall"] = sum(max(0, qty - stock - pending.get(product_id, 0))
                                  for qty, product_id, stock in ordered)
    elif inquiry is not None and inquiry.qty:
        values["ordered"] = inquiry.qty
    for kind, name in (("shortage", "shortage"), ("purchase_order", "purchased"),
                       ("inbound", "delivered")):
        found = latest(kind)
        if found is not None and found.qty is not None:
            values[name] = found.qty
    ret = latest("return")
    if ret is not None:
        values["returned"] = sum(qty for qty, _, _ in lines(ret))
        values["return_total"] = round((ret.amount_cents or 0) / 100, 2)
    return values


def fill_in(text: str, values: dict) -> str:
    """A hint with its world values shown: "forward $shortfall boxes" → "forward 20 boxes"."""
    def value(match):
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)
    return WORLD_IN_TEXT.sub(value, text)


# ---- the steps an action would meet -----------------------------------------------------------

def candidates(run: Run, graded, step_action: str, role: str, case_id: int | None) -> list[Step]:
    """Unresolved steps this action could meet, in its case."""
    cases = graded.case_ids()
    found = []
    for result in graded.steps:
        step = result.step
        if result.resolved or step.action != step_action or step.role != role:
            continue
        if step.case is not None and not step.starts_case and cases.get(step.case) != case_id:
            continue
        found.append(step)
    return found


def in_order(graded, steps: list[Step]) -> list[Step]:
    done = {s.id for s in graded.steps if s.resolved}
    return [s for s in steps if all(d in done for d in s.deps)]


def shown_values(action, values: dict) -> dict:
    """Inputs as a check reads them: money in yuan (as results and scenario files give it), not
    in the cents the engine parses it into."""
    shown = {}
    for key, value in values.items():
        spec = action.input(key)
        shown[key] = value / 100 if spec is not None and spec.kind == "money" and \
            value is not None else value
    return shown


class Referee:
    """The engine's `Script` for scenario runs (plugged in by the app factory)."""

    def before(self, ctx: core.Context) -> None:
        run, action = ctx.run, ctx.action
        if ctx.actor.kind in ("instructor", "system"):
            if action.name == MARK_STEP:
                self._check_mark(ctx)
            return
        scenario = scenario_of(run)
        graded = grade_now(run)
        case_id = ctx.doc.case_id if ctx.doc is not None else None
        if not ctx.dry:
            ctx.world = world_values(run, case_id, ctx.doc)
        steps = candidates(run, graded, action.name, action.role, case_id)
        strict = ctx.actor.kind in STRICT_ACTORS
        if not steps:
            # (Only a real student's action: a preview asking the plan would ask itself.)
            if ctx.actor.kind == "student" and not ctx.dry:
                needed = self._needed(ctx)
                if scenario.rules["unscripted"] == "refuse" and not needed:
                    raise NotAllowed(N_("The scenario does not ask for “%(action)s” now."),
                                     action=action.name)
                if needed:  # what the guide asked for first: grading does not list it
                    ctx.world = {**(ctx.world or {}), NEEDED: True}
            return
        ready = in_order(graded, steps)
        if not ready:
            if strict and scenario.strict("order"):
                done = {s.id for s in graded.steps if s.resolved}
                first = next(scenario.step(d) for d in steps[0].deps if d not in done)
                target = planner.doc_for(run.id, ctx.doc, first.action) if ctx.doc else None
                # With a Need, consoles show "waiting: …" instead of a button that would refuse.
                raise NotAllowed(N_("Not yet: step %(number)s “%(action)s” (%(role)s) comes "
                                    "first."), need=planner.Need(first.action,
                                                                target.id if target else None),
                                 number=first.number, action=first.action, role=first.role)
            return
        ctx.script_steps = ready
        if strict and scenario.strict("checks") and not ctx.dry:
            self._refuse_failed(ready, shown_values(action, ctx.values), ctx.world)

    def after(self, ctx: core.Context, result: dict) -> None:
        ready = getattr(ctx, "script_steps", None)
        if not ready or ctx.actor.kind not in STRICT_ACTORS:
            return
        if not scenario_of(ctx.run).strict("checks"):
            return
        values = {k: v for k, v in shown_values(ctx.action, ctx.values).items() if v is not None}
        view = EventView(id=0, action=ctx.action.name, role=ctx.action.role, at=ctx.now,
                         params=values, result=result)
        self._refuse_failed(ready, view, ctx.world)

    def explain(self, run: Run, error: NotAllowed) -> None:
        """Name the unresolved step of the script that performs what must come first."""
        need = error.need
        graded = grade_now(run)
        steps = [r.step for r in graded.steps if not r.resolved and r.step.action == need.action]
        if need.doc_id and len(steps) > 1:
            doc = db.session.get(Document, need.doc_id)
            cases = graded.case_ids()
            same = [s for s in steps if s.case is None or cases.get(s.case) == doc.case_id]
            steps = same or steps
        if steps:
            error.step = {"number": steps[0].number, "id": steps[0].id}

    # ----
    @staticmethod
    def _refuse_failed(ready: list[Step], values, world) -> None:
        failures = [failed_check(step, values, world) for step in ready]
        if all(f is not None for f in failures):
            reason = check_reason(ready[0], failures[0], world)
            args = {k: v for k, v in reason["args"].items() if k != "field"}
            raise NotAllowed(reason["msg"], failures[0][0], **args)

    @staticmethod
    def _check_mark(ctx: core.Context) -> None:
        step_id = ctx.values.get("step")
        graded = grade_run(ctx.run)
        result = next((r for r in graded.steps if r.id == step_id), None)
        if result is None:
            raise InvalidInput(N_("There is no step %(step)s in this scenario."), "step",
                               step=step_id)
        if result.resolved:
            raise NotAllowed(N_("Step %(number)s is already resolved."), "step",
                             number=result.step.number)
        if result.step.starts_case and ctx.actor.kind != "system":
            # Its order or inquiry would never exist, and the steps of its case could not follow.
            raise NotAllowed(N_("Step %(number)s starts an order or inquiry: it cannot be marked, "
                                "someone must do it (or “show me” it)."), "step",
                             number=result.step.number)

    @staticmethod
    def _needed(ctx: core.Context) -> bool:
        """Is this action what the world needs first for a step of the script?"""
        from .plan import plan
        for move in plan(ctx.run).moves:
            if move.action == ctx.action.name and (
                    ctx.doc is None or move.doc is None or move.doc.id == ctx.doc.id):
                return True
        return False
