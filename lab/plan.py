"""What can be done next, planned from the world as it is: the bots, the guide, "show me",
`lab autoplay`/`lab play` and the no-dead-end tests all read this one plan.

For each step the script expects now (unresolved, its dependencies resolved), the plan finds the
document it acts on in its case, the values a bot would send (the script's `with`, world values
filled in, what the step's check asks for), and dry-runs it. When the world says something must
come first ("not paid yet: first the buyer pays"), it follows that chain to the first action that
can be performed now: a move that is not in the script but that the world needs (a second
shortage after a stock loss, say). A run is a dead end when it is not complete, no move can be
made and no timed step is waiting: the guarantee is that this never happens."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from .engine import Actor, check, registry
from .errors import AlreadyDone, DomainError, NotAllowed
from .extensions import db
from .grading import COMPARISON, Grade, resolve
from .models import Document, Product, Run
from .models.base import utcnow
from .rules import one_look, world_values
from .runs import current_grade, scenario_of
from .scenario import Step, action_in_case, world_ref

MAX_CHAIN = 8  # how far a plan follows "first X must happen"


@dataclass
class Move:
    """One action that can be performed now, and the script step it leads to."""
    step: Step
    action: str
    role: str
    doc: Document | None
    params: dict
    gap: bool = False  # not the step itself: what the world needs first (maybe not scripted)
    bot: bool = False  # a bot plays it here
    derived: tuple = ()  # inputs filled in from the step's check (not the script's `with`)

    def without_derived(self) -> dict:
        return {k: v for k, v in self.params.items() if k not in self.derived}


@dataclass
class Plan:
    graded: Grade
    moves: list[Move] = field(default_factory=list)
    waiting: list[Step] = field(default_factory=list)  # timed steps not due yet
    blocked: list[tuple[Step, DomainError | None]] = field(default_factory=list)

    @property
    def dead_end(self) -> bool:
        return not self.graded.completed and not self.moves and not self.waiting and \
            not self.passed_over()

    def passed_over(self) -> list[tuple[Step, object]]:
        """Blocked steps that can no longer happen: (the step, why). Why is the later step done
        first (a loose run paid before the payment reminder), or, when nothing else can move,
        the world's own refusal ("enough stock: nothing to forward", a document rejected)."""
        found = []
        for step, why in self.blocked:
            if getattr(why, "need", None) is not None:
                continue
            later = next((r.step for r in self.graded.steps
                          if r.resolved and step.id in r.step.deps), None)
            if later is not None and why is not None:
                found.append((step, later))
        if found or self.moves or self.waiting:
            return found
        return [(step, why) for step, why in self.blocked
                if getattr(why, "need", None) is None]

    def for_step(self, step_id: str) -> list[Move]:
        return [m for m in self.moves if m.step.id == step_id]


def plays(run: Run, step: Step | None, role: str, held: set[str]) -> bool:
    """A bot performs a step given to it by the script, or any step of a role nobody holds."""
    if step is not None and step.by == "bot" and role == step.role:
        return True
    return role not in held


def plan(run: Run, graded: Grade | None = None) -> Plan:
    graded = graded or current_grade(run)
    result = Plan(graded)
    if graded.completed:
        return result
    with one_look(run, graded):  # dry runs only: the world stands still meanwhile
        _plan(run, graded, result)
    return result


def _plan(run: Run, graded: Grade, result: Plan) -> None:
    held = run.held_roles()
    cases = graded.case_ids()
    minutes = run.elapsed().total_seconds() / 60
    for step in graded.next_steps():
        if step.at_minute is not None and minutes < step.at_minute:
            result.waiting.append(step)
            continue
        doc = document_for(run, step, cases)
        if doc is False:
            result.blocked.append((step, None))
            continue
        name, params, depth = step.action, step_params(run, step, doc), 0
        derived = tuple(k for k in params if k in step.check and k not in step.params)
        seen, first = {(name, doc.id if doc else None)}, None
        while True:
            action = registry.get(name)
            bot = plays(run, step if depth == 0 else None, action.role, held)
            # A student's move is planned as the student would be judged (the script's rules).
            refusal = check(run, Actor(action.role, "bot" if bot else "viewer"), name, doc,
                            params)
            if refusal is None:
                result.moves.append(Move(step, name, action.role, doc, params, gap=depth > 0,
                                         bot=bot, derived=derived if depth == 0 else ()))
                break
            need = getattr(refusal, "need", None) if isinstance(refusal, NotAllowed) else None
            if need is None or isinstance(refusal, AlreadyDone) or depth >= MAX_CHAIN:
                result.blocked.append((step, refusal))
                break
            first = first or refusal
            if (need.action, need.doc_id) in seen:  # the chain comes back: no way through
                result.blocked.append((step, _no_way(first)))
                break
            seen.add((need.action, need.doc_id))
            doc = db.session.get(Document, need.doc_id) if need.doc_id else None
            if registry.get(need.action).on and doc is None:
                result.blocked.append((step, refusal))
                break
            name, depth = need.action, depth + 1
            params = with_defaults(run, registry.get(name), doc, {})


def _no_way(refusal: NotAllowed) -> NotAllowed:
    """The world's refusal of a step when what must come first waits, in the script, for this
    very step (cash on delivery: the payment is confirmed after delivery, and a script that
    confirms it before shipping cannot be followed): no need to follow, so the step is passed
    over with the world's reason when nothing else can move."""
    return NotAllowed(refusal.msg, refusal.field,
                      **{k: v for k, v in refusal.args_.items() if k != "field"})


def document_for(run: Run, step: Step, cases: dict[str, int]):
    """The document a step acts on now: None for an action that starts something, False when
    there is none yet. The first one of its kind in the step's case that the action can take,
    else the latest of its kind there (a refusal will tell what comes first)."""
    action = registry.get(step.action)
    if action.on is None:
        return None
    query = select(Document).where(Document.run_id == run.id, Document.kind == action.on)
    if action_in_case(action):
        if step.case not in cases:
            return False
        query = query.where(Document.case_id == cases[step.case])
    docs = db.session.scalars(query.order_by(Document.id)).all()  # one or two, mostly
    sources = action.sources(run.mode)
    return next((d for d in docs if d.state in sources), docs[-1] if docs else False)


# ---- what a bot sends -------------------------------------------------------------------------

def step_params(run: Run, step: Step, doc: Document | None) -> dict:
    """The script's `with`, its world values filled in; for an input the step checks and the
    script leaves out, the value the check asks for; defaults for the rest."""
    action = registry.get(step.action)
    world = world_values(run, doc.case_id if doc is not None else None, doc)
    params = {}
    for key, value in step.params.items():
        params[key] = world.get(world_ref(value), value) if world_ref(value) else value
    for key, expected in step.check.items():
        spec = action.input(key)
        if spec is None or key in params:
            continue
        value = _meeting(resolve(expected, world), spec.kind)
        if value is not None:
            params[key] = value
    return with_defaults(run, action, doc, params)


def _meeting(expected, kind: str):
    """A value that meets a check (">=20" → 20, "<1500" → 1499)."""
    if expected is None:
        return None
    if isinstance(expected, str):
        match = COMPARISON.match(expected)
        if match:
            number, op = float(match.group(2)), match.group(1)
            step = 1 if kind == "int" else 0.01
            number = {">": number + step, "<": number - step}.get(op, number)
            if op == "!=":
                return None
            return int(number) if kind == "int" else f"{number:.2f}"
    if kind == "money" and isinstance(expected, (int, float)):
        return f"{expected:.2f}"
    return expected


def bot_password(run: Run) -> str:
    """The certificate password a bot-played buyer uses (the script's, when it gives one)."""
    for step in scenario_of(run).steps:
        if step.action == "sign_contract" and step.params.get("password"):
            return str(step.params["password"])
    secret = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{secret}:bot:{run.id}".encode()).hexdigest()[:12]


def with_defaults(run, action, doc, params) -> dict:
    """What a bot fills in when the script gives no value for a required input."""
    params = dict(params)
    missing = [spec for spec in action.inputs if spec.name not in params and spec.required]
    product = _product_for(run, doc) if any(
        spec.kind in ("lines", "money") or spec.name == "sku" for spec in missing) else None
    for spec in missing:
        if spec.kind == "password":
            params[spec.name] = bot_password(run)
        elif spec.kind == "lines" and product is not None:
            params[spec.name] = [{"sku": product.sku, "qty": 1}]
        elif spec.name == "sku" and product is not None:
            params["sku"] = product.sku if action.name != "publish_product" else "NEW-1"
        elif spec.kind == "money":
            params[spec.name] = f"{(product.price_cents if product else 100) / 100:.2f}"
        elif spec.kind == "int":
            params[spec.name] = max(spec.minimum, 5 if spec.name == "rating" else 1)
        elif spec.kind == "choice":
            params[spec.name] = spec.choices[0]
        elif spec.kind == "date":
            params[spec.name] = (utcnow().date() + timedelta(days=7)).isoformat()
        else:
            params[spec.name] = "—"
    if action.name == "request_certificate":
        params.setdefault("password", bot_password(run))
    return params


def _product_for(run, doc) -> Product | None:
    if doc is not None and doc.product_id:
        return db.session.get(Product, doc.product_id)
    return db.session.scalar(select(Product).where(Product.run_id == run.id,
                                                   Product.published.is_(True))
                             .order_by(Product.id).limit(1))
