"""Bots play the roles nobody holds, and the steps a scenario gives to a bot (`by: bot`).

They need no worker: after each committed action and on each console poll, the run checks
whether a bot has something due and performs it through the same engine as a student. Two app
processes ticking the same run at once are harmless: a document action done twice is refused as
already done, and a bot's action that starts something carries a one-time request key."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from .engine import Actor, check, perform, registry
from .errors import AlreadyDone, DomainError, NotAllowed
from .extensions import db
from .models import Document, Event, Product, Run
from .models.base import utcnow
from .runs import grade_run, scenario_of
from .scenario import Step, action_in_case

MAX_CHAIN = 8  # how far a bot follows "first X must happen" to fill a gap


def bot_password(run: Run) -> str:
    """The certificate password a bot-played buyer uses (the script's, when it gives one)."""
    for step in scenario_of(run).steps:
        if step.action == "sign_contract" and step.params.get("password"):
            return str(step.params["password"])
    secret = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{secret}:bot:{run.id}".encode()).hexdigest()[:12]


def student_roles(run: Run) -> set[str]:
    return {seat.role for seat in run.seats}


def plays(run: Run, step: Step | None, role: str, held: set[str]) -> bool:
    """A bot performs a step given to it by the script, or any step of a role nobody holds."""
    if step is not None and step.by == "bot":
        return True
    return role not in held


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
    graded = grade_run(run)
    held = student_roles(run)
    cases = graded.case_ids()
    minutes = run.elapsed().total_seconds() / 60
    for step in graded.next_steps():
        if step.at_minute is not None and minutes < step.at_minute:
            continue
        doc = document_for(run, step, cases)
        if doc is False:
            continue
        if _try(run, step, step.action, doc, dict(step.params), held, depth=0):
            return True
    return False


def _try(run, step, name, doc, params, held, depth) -> bool:
    action = registry.get(name)
    mine = plays(run, step, action.role, held)
    actor = Actor(action.role, "bot")
    params = with_defaults(run, action, doc, params)
    refusal = check(run, actor, name, doc, params)
    if refusal is None:
        if not mine:
            return False  # a student's move: leave it to them
        key = f"bot:{run.id}:{step.id}:{name}" if action.on is None and step else None
        try:
            perform(run.id, actor, name, doc, params, request_key=key, record_refusal=False)
        except DomainError:
            return False
        return True
    if isinstance(refusal, AlreadyDone) or depth >= MAX_CHAIN:
        return False
    need = getattr(refusal, "need", None) if isinstance(refusal, NotAllowed) else None
    if need is None:
        return False
    need_doc = db.session.get(Document, need.doc_id) if need.doc_id else None
    if registry.get(need.action).on and need_doc is None:
        return False
    # Gap filling: the step that must come first is not in the script; a bot does it only for
    # a role nobody holds.
    if registry.get(need.action).role in held:
        return False
    return _try(run, None, need.action, need_doc, {}, held, depth + 1)


def document_for(run: Run, step: Step, cases: dict[str, int]):
    """The document a step acts on now: None for an action that starts something, False when
    there is none yet."""
    action = registry.get(step.action)
    if action.on is None:
        return None
    query = select(Document).where(Document.run_id == run.id, Document.kind == action.on,
                                   Document.state.in_(action.sources(run.mode)))
    if action_in_case(action):
        if step.case not in cases:
            return False
        query = query.where(Document.case_id == cases[step.case])
    doc = db.session.scalar(query.order_by(Document.id).limit(1))
    if doc is None:  # maybe not in the right state yet: a refusal will tell what comes first
        fallback = select(Document).where(Document.run_id == run.id, Document.kind == action.on)
        if action_in_case(action):
            fallback = fallback.where(Document.case_id == cases[step.case])
        doc = db.session.scalar(fallback.order_by(Document.id.desc()).limit(1))
    if doc is None and action.on == "order" and step.case in cases:
        return False
    return doc if doc is not None else False


def with_defaults(run, action, doc, params) -> dict:
    """What a bot fills in when the script gives no value for a required input."""
    params = dict(params)
    product = _product_for(run, doc)
    for spec in action.inputs:
        if spec.name in params or not spec.required:
            continue
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


def play_step(run: Run, step: Step) -> bool:
    """"Show me": a bot performs this step for a learner (or what must come first, whoever's
    role it is). True when it performed something."""
    graded = grade_run(run)
    doc = document_for(run, step, graded.case_ids())
    if doc is False:
        return False
    return _try(run, step, step.action, doc, dict(step.params), held=set(), depth=0)
