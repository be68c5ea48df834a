"""perform(): the only door to a run's state. Role check, state guard, effects and one audit event,
in one transaction; a refused attempt is recorded as an event too."""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from ..errors import (N_, AlreadyDone, Busy, Cents, DomainError, Forbidden, InvalidInput,
                      NotAllowed, NotFound)
from ..extensions import db
from ..models import Document, Event, Party, Product, Run, Seat, StockMove, Transfer
from ..models.base import utcnow
from ..specs import KIND, check_state
from . import planner, registry

log = logging.getLogger(__name__)
SECRET_PARAMS = {"password"}


class Script(Protocol):
    """What a layer above the engine adds to perform() in a scenario run: the run's script.
    The engine asks it through this interface and never imports it (lab/rules.py provides it).

    before(): after the world's own checks, before any effect; raises a DomainError to refuse,
    and may note on ctx.world what grading needs to know of the moment (world values). With
    ctx.dry (a dry run) it must not depend on effects. after(): after the effects, inside the
    transaction; a DomainError there refuses and rolls everything back. explain(): names the
    script's step for a refusal whose `need` says what must come first."""

    def before(self, ctx: Context) -> None: ...

    def after(self, ctx: Context, result: dict) -> None: ...

    def explain(self, run: Run, error: NotAllowed) -> None: ...


_script: Script | None = None


def use_script(script: Script | None) -> None:
    """Plug the scenario layer in (the app factory does it); None: the world's rules only."""
    global _script
    _script = script


@dataclass(frozen=True)
class Actor:
    """Who acts: a student in a seat, a bot playing a role, an instructor injecting, the system.
    A "viewer" is a student's view for a dry run (an inbox's buttons): no seat is looked up."""
    role: str
    kind: str = "student"
    user_id: int | None = None


@dataclass
class Context:
    run: Run
    actor: Actor
    action: registry.Action
    doc: Document | None
    values: dict
    now: datetime = field(default_factory=utcnow)
    created: list = field(default_factory=list)
    case_id: int | None = None
    dry: bool = False  # a dry run: checks only, no effects
    world: dict | None = None  # what the script noted of the world at the moment of the action

    # ---- documents -------------------------------------------------------------------------
    def new_document(self, cls, *, case_id: int | None = None, **fields) -> Document:
        kind = cls.__mapper_args__["polymorphic_identity"]
        check_state(kind, fields.get("state"))
        count = db.session.scalar(select(func.count(Document.id)).where(
            Document.run_id == self.run.id, Document.kind == kind))
        doc = cls(run_id=self.run.id, number=KIND[kind].number(count + 1),
                  created_at=self.now, updated_at=self.now, data=fields.pop("data", {}), **fields)
        doc.case_id = case_id if case_id is not None else (self.doc.case_id if self.doc else None)
        db.session.add(doc)
        db.session.flush()
        if doc.case_id is None and self.action.starts_case:
            doc.case_id = doc.id
        self.created.append(doc)
        return doc

    def move(self, doc: Document, state: str | None = None, **columns) -> None:
        """Change a document. The flush is a guarded update (WHERE version = the version read):
        if somebody else changed it meanwhile, the whole action is retried from the start."""
        if state:
            check_state(doc.kind, state)
            doc.state = state
        for key, value in columns.items():
            setattr(doc, key, value)
        doc.updated_at = self.now

    def set_data(self, doc: Document, **values) -> None:
        doc.data = {**(doc.data or {}), **values}
        doc.updated_at = self.now

    def in_case(self, kind: str, *states: str) -> list[Document]:
        case_id = self.doc.case_id if self.doc else self.case_id
        query = select(Document).where(Document.run_id == self.run.id,
                                       Document.case_id == case_id, Document.kind == kind)
        if states:
            query = query.where(Document.state.in_(states))
        return list(db.session.scalars(query.order_by(Document.id)))

    # ---- ledgers ---------------------------------------------------------------------------
    def party(self, key: str) -> Party:
        party = db.session.scalar(select(Party).where(Party.run_id == self.run.id,
                                                      Party.key == key))
        if party is None:
            raise NotFound(N_("There is no bank account for %(party)s in this run."), party=key)
        return party

    def transfer(self, from_key: str, to_key: str, cents: int, memo: str,
                 doc: Document | None = None) -> Transfer:
        """Move money between two accounts; refused (nothing moves) when the payer is short."""
        source, target = self.party(from_key), self.party(to_key)
        if cents <= 0:
            raise InvalidInput(N_("The amount must be more than 0.00."), "amount")
        debited = db.session.execute(
            update(Party).where(Party.id == source.id, Party.balance_cents >= cents)
            .values(balance_cents=Party.balance_cents - cents)
            .execution_options(synchronize_session=False)).rowcount
        if debited != 1:
            db.session.refresh(source)
            # Names go into the refusal as their {en, zh} mapping and amounts as cents: it is
            # stored, and read later in whatever language the reader has.
            raise NotAllowed(
                N_("%(party)s has only %(balance)s in the bank: %(amount)s is needed."),
                party=source.name, balance=Cents(source.balance_cents), amount=Cents(cents))
        db.session.execute(update(Party).where(Party.id == target.id)
                           .values(balance_cents=Party.balance_cents + cents)
                           .execution_options(synchronize_session=False))
        db.session.expire(source)
        db.session.expire(target)
        row = Transfer(run_id=self.run.id, from_party_id=source.id, to_party_id=target.id,
                       amount_cents=cents, memo=memo, document_id=doc.id if doc else None,
                       at=self.now)
        db.session.add(row)
        return row

    def stock(self, product: Product, delta: int, reason: str,
              doc: Document | None = None) -> int:
        """Move stock in (delta > 0) or out; refused when it would go below zero."""
        guard = update(Product).where(Product.id == product.id)
        if delta < 0:
            guard = guard.where(Product.stock >= -delta)
        after = db.session.execute(guard.values(stock=Product.stock + delta)
                                   .returning(Product.stock)
                                   .execution_options(synchronize_session=False)).scalar()
        if after is None:
            db.session.refresh(product)
            raise NotAllowed(N_("Only %(stock)s of %(product)s in stock: %(qty)s are needed. "
                                "Sales forwards the shortage to purchasing."),
                             stock=product.stock, product=product.name, qty=-delta)
        db.session.expire(product)
        db.session.add(StockMove(run_id=self.run.id, product_id=product.id, qty=delta,
                                 stock_after=after, reason=reason,
                                 document_id=doc.id if doc else None, at=self.now))
        return after

    def product(self, sku: str) -> Product:
        product = db.session.scalar(select(Product).where(Product.run_id == self.run.id,
                                                          Product.sku == sku))
        if product is None or not product.published:
            raise InvalidInput(N_("There is no product %(sku)s in this mall."), "sku", sku=sku)
        return product


# ---- checks shared by perform() and the dry run ---------------------------------------------

def _load(run_id: int, name: str, doc_id: int | None, actor: Actor, params: dict | None):
    action = registry.get(name)
    if action is None:
        raise NotFound(N_("There is no action called %(name)s."), name=name)
    run = db.session.get(Run, run_id)
    if run is None:
        raise NotFound(N_("This run does not exist."))
    # A viewer's dry run (a console's buttons) still shows a paused run's actions: the page
    # disables them while the run is not running.
    if run.status != "running" and actor.kind != "viewer":
        raise NotAllowed(N_("The run is %(status)s: nothing can be done in it now."),
                         status=run.status)
    if run.mode not in action.modes:
        raise NotAllowed(N_("“%(action)s” is not part of a %(mode)s run."), action=name,
                         mode=run.mode.upper())
    if actor.role != action.role and actor.kind != "system":
        raise Forbidden(N_("Only %(role)s may “%(action)s”."), role=action.role, action=name)
    if actor.kind == "student":
        seat = db.session.scalar(select(Seat.id).where(
            Seat.run_id == run.id, Seat.user_id == actor.user_id, Seat.role == action.role))
        if seat is None:
            raise Forbidden(N_("You do not hold the %(role)s seat in this run."),
                            role=action.role)
    doc = None
    if action.on:
        doc = db.session.get(Document, doc_id) if doc_id else None
        if doc is None or doc.run_id != run.id:
            raise NotFound(N_("That document does not exist in this run."))
        if doc.kind != action.on:
            raise NotAllowed(N_("“%(action)s” works on a %(kind)s, not on %(number)s."),
                             action=name, kind=action.on, number=doc.number)
    values = action.parse(params) if params is not None else {}
    return Context(run=run, actor=actor, action=action, doc=doc, values=values)


def _check(ctx: Context) -> None:
    try:
        _check_state_and_gates(ctx)
    except NotAllowed as error:
        if error.need is not None and _script is not None:
            _script.explain(ctx.run, error)
        raise
    if _script is not None:
        _script.before(ctx)


def _check_state_and_gates(ctx: Context) -> None:
    action, doc = ctx.action, ctx.doc
    if doc is not None and doc.state not in action.sources(ctx.run.mode):
        done = already_done(ctx.run.id, action.name, doc)
        if done is not None:
            raise done
        raise planner.not_yet(ctx.run, doc, action)
    for gate in action.requires:
        gate(ctx)


def already_done(run_id: int, name: str, doc: Document) -> AlreadyDone | None:
    """The refusal for an action somebody already did on this document (who and when: the
    time as stored, shown in the reader's time zone by lab/errors.py)."""
    done = db.session.scalar(select(Event).where(
        Event.run_id == run_id, Event.document_id == doc.id, Event.action == name,
        Event.ok.is_(True)).order_by(Event.id.desc()).limit(1))
    if done is None:
        return None
    return AlreadyDone(N_("Already done: %(who)s did “%(action)s” on %(number)s at %(time)s."),
                       who=_who(done), action=name, number=doc.number,
                       time=done.at)


def _who(event: Event):
    """Who did an event, for a stored refusal: a person's name, or a role key (translated when
    shown)."""
    if event.actor == "bot":
        return {"bot": event.role}
    if event.user is not None:
        return event.user.display_name
    return {"role": event.role or ""}


def check(run: Run, actor: Actor, name: str, doc: Document | None = None,
          params: dict | None = None) -> DomainError | None:
    """Dry run: the refusal perform() would give now, or None. Changes nothing. With params
    None the inputs are not checked (is the action possible at all, whatever the form says?)."""
    try:
        ctx = _load(run.id, name, doc.id if doc else None, actor, params)
        ctx.dry = params is None
        _check(ctx)
    except DomainError as error:
        return error
    return None


def trial(run: Run, actor: Actor, name: str, doc: Document | None = None,
          params: dict | None = None) -> DomainError | None:
    """A dry run with the effects: the action is performed in a savepoint that is rolled back,
    so a refusal that only the effect can tell (and the script's checks on results) shows.
    It takes the run's write lock until the caller's transaction ends: for tests and headless
    play, not for pages."""
    nested = db.session.begin_nested()
    try:
        _perform_once(run.id, actor, name, doc.id if doc else None, dict(params or {}), None)
    except DomainError as error:
        return error
    finally:
        nested.rollback()
    return None


# ---- perform --------------------------------------------------------------------------------

def perform(run: Run | int, actor: Actor, name: str, document: Document | int | None = None,
            params: dict | None = None, *, request_key: str | None = None,
            record_refusal: bool = True) -> Event:
    """Do one action in one transaction and return its event; raise a DomainError otherwise."""
    run_id = run if isinstance(run, int) else run.id
    doc_id = document if isinstance(document, int) or document is None else document.id
    params = dict(params or {})
    request_key = bound_key(actor, request_key)
    db.session.rollback()  # start from a fresh transaction; views hold no pending changes
    if request_key and _done_with_key(run_id, request_key):
        # The same form again (a reload, a double click after the first was done): not a mistake.
        raise AlreadyDone(N_("Already done: this form was sent before."))
    for attempt in range(8):
        try:
            event = _perform_once(run_id, actor, name, doc_id, params, request_key)
            db.session.commit()
            return event
        except DomainError as error:
            db.session.rollback()
            if record_refusal and not isinstance(error, AlreadyDone):
                _record_refusal(run_id, actor, name, doc_id, params, error, request_key)
            raise
        except (StaleDataError, IntegrityError, OperationalError) as error:
            db.session.rollback()
            if request_key and _done_with_key(run_id, request_key):
                raise AlreadyDone(N_("Already done: this form was sent before.")) from None
            if isinstance(error, OperationalError) and not _is_lock_error(error):
                raise
            log.info("retrying %s after %s", name, type(error).__name__)
            time.sleep(0.05 * (attempt + 1))
    raise Busy(N_("The lab is busy: please try again."))


def redo(run_id: int, actor: Actor, name: str, doc_id: int | None, params: dict, *,
         at: datetime, request_key: str | None = None) -> Event:
    """Do again an action recorded before (`params`: its event's), dated `at`, in the caller's
    transaction: checked like any other, nothing committed, and a DomainError leaves the
    rollback to the caller. (Rebuilding a run from its own log: lab/classroom/repair.py.)"""
    action = registry.get(name)
    form = action.form_of(params) if action is not None else dict(params)
    return _perform_once(run_id, actor, name, doc_id, form, request_key, at=at)


def _perform_once(run_id, actor, name, doc_id, params, request_key, at=None) -> Event:
    # The first statement writes the run's row: it serialises the run's actions (a row lock on
    # PostgreSQL, the write lock on SQLite), so what we read next stays true until we commit.
    db.session.execute(update(Run).where(Run.id == run_id)
                       .values(last_event_id=Run.last_event_id)
                       .execution_options(synchronize_session=False))
    ctx = _load(run_id, name, doc_id, actor, params)
    if at is not None:
        ctx.now = at
    _check(ctx)
    if ctx.doc is not None:
        ctx.case_id = ctx.doc.case_id
        if ctx.action.to_state:
            ctx.move(ctx.doc, ctx.action.to_state)
        else:
            ctx.move(ctx.doc)  # still bump the version: one action at a time per document
        _apply_also(ctx)
    result = ctx.action.effect(ctx) or {}
    if _script is not None:
        _script.after(ctx, result)
    if ctx.action.starts_case and ctx.created:
        ctx.case_id = ctx.created[0].case_id
    if ctx.created and "number" not in result:
        result["number"] = ctx.created[0].number
    event = Event(run_id=run_id, at=ctx.now, user_id=actor.user_id, actor=actor.kind,
                  role=ctx.action.role, action=name, document_id=doc_id,
                  case_id=ctx.case_id if ctx.case_id is not None else (
                      ctx.created[0].case_id if ctx.created else None),
                  params=_public(ctx.values), result=result, ok=True, request_key=request_key,
                  world=ctx.world)
    db.session.add(event)
    db.session.flush()
    db.session.execute(update(Run).where(Run.id == run_id).values(last_event_id=event.id)
                       .execution_options(synchronize_session=False))
    return event


def _apply_also(ctx: Context) -> None:
    """An action's `also=(kind, from_states, to_state)`: the document it acts on comes from one
    of that kind (its nearest ancestor of the kind: the shipment's order, the contract's order,
    the inbound delivery's purchase order), which moves on with it when in one of from_states."""
    if not ctx.action.also:
        return
    kind, sources, to_state = ctx.action.also
    target = ctx.doc.parent
    while target is not None and target.kind != kind:
        target = target.parent
    if target is not None and target.state in sources:
        ctx.move(target, to_state)


def _public(values: dict) -> dict:
    return {k: ("***" if k in SECRET_PARAMS and v else v) for k, v in values.items()
            if v is not None}


def bound_key(actor: Actor, key: str | None) -> str | None:
    """A one-time key as the event log keeps it, bound to who sent it. A person's key is theirs
    alone ("u<id>:<key>"), so a key copied from another person's page, or a bot's predictable
    key, can never make somebody else's action "already done". The lab's own actors (bots,
    "show me", the system) keep theirs as they are: a bot and "show me" doing the same step at
    once still do it once. A long key is hashed to fit the column (with "refused:")."""
    if not key:
        return None
    owner = f"u{actor.user_id}:" if actor.user_id is not None else ""
    if len(owner) + len(key) <= KEY_ROOM:
        return owner + key
    return f"{owner or 'lab:'}{hashlib.sha256(key.encode()).hexdigest()[:40]}"


KEY_ROOM = 72  # Event.request_key holds 80 characters, "refused:" included


def _done_with_key(run_id: int, key: str) -> bool:
    return db.session.scalar(select(Event.id).where(Event.run_id == run_id,
                                                    Event.request_key == key)) is not None


def _is_lock_error(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "locked" in text or "busy" in text or "deadlock" in text


def _record_refusal(run_id, actor, name, doc_id, params, error: DomainError,
                    request_key: str | None = None) -> None:
    """A refused attempt is an event too (grading counts mistakes): once per submitted form
    (the same form sent again is the same attempt), never for a bot, and never while the run is
    paused or over (that answer is a message, not a mistake)."""
    if actor.kind == "bot":
        return
    try:
        run = db.session.get(Run, run_id)
        if run is None or run.status != "running":
            return
        doc = db.session.get(Document, doc_id) if doc_id else None
        if doc_id and (doc is None or doc.run_id != run_id):
            doc = None  # never link a refusal to another run's document
        # The refused form's key, marked so that it never blocks the same form's later success.
        key = f"refused:{request_key}" if request_key else None
        if key and db.session.scalar(select(Event.id).where(Event.run_id == run_id,
                                                            Event.request_key == key)):
            return
        db.session.add(Event(
            run_id=run_id, user_id=actor.user_id, actor=actor.kind, role=actor.role,
            action=name if registry.get(name) else "unknown",
            document_id=doc.id if doc else None, case_id=doc.case_id if doc else None,
            params=_public({k: v for k, v in params.items() if isinstance(v, (str, int, list))}),
            result={}, ok=False, error=error.to_json(), request_key=key))
        db.session.commit()
    except IntegrityError:  # the same refused form, recorded meanwhile by a parallel request
        db.session.rollback()
    except Exception:  # recording must never hide the refusal itself
        db.session.rollback()
        log.exception("could not record a refused attempt")
