"""Runs: build a run's world from a scenario (in one transaction), seat people, start, pause,
resume and finish it, and read its grade."""
from __future__ import annotations

import functools
from datetime import datetime

from flask import g, has_request_context
from sqlalchemy import delete, select, update

from .errors import N_, NotAllowed
from .extensions import db
from .grading import EventView, Grade, grade
from .models import Event, Membership, Party, Product, Run, Seat, StockMove, User
from .models.base import utcnow
from .scenario import DEFAULT_BALANCE, Scenario, load

ESCROW_NAME = {"en": "Third-party escrow account", "zh": "第三方担保账户"}


@functools.lru_cache(maxsize=128)
def _parse(text: str) -> Scenario:
    return load(text)


def scenario_of(run: Run) -> Scenario:
    """The scenario a run started from (its stored text, never the file as it is now)."""
    return _parse(run.scenario_text)


def create_run(scenario: Scenario, *, kind: str = "class", owner_id: int | None = None,
               seats: dict[str, list[int]] | None = None, bot_delay: float = 2.0,
               start: bool = False, group_id: int | None = None,
               assignment_id: int | None = None) -> Run:
    """A new run of the scenario with its world and seats (started if `start`). Flushes; the
    caller commits (the request edge, a command, a test)."""
    run = Run(title=scenario.title, scenario_slug=scenario.id, scenario_text=scenario.text,
              mode=scenario.mode, kind=kind, workflow=scenario.workflow,
              time_limit_minutes=scenario.time_limit_minutes, bot_delay_seconds=bot_delay,
              owner_id=owner_id, group_id=group_id, assignment_id=assignment_id)
    db.session.add(run)
    db.session.flush()
    for role, user_ids in (seats or {}).items():
        for user_id in user_ids:
            db.session.add(Seat(run_id=run.id, user_id=user_id, role=role))
    db.session.flush()  # the world names the buyer's account after who holds the seat
    build_world(run, scenario)
    if start:
        run.status, run.started_at = "running", utcnow()
    return run


def acting_roles(scenario: Scenario) -> list[str]:
    """The scenario's roles (`roles:`) with a step a person performs, in their order."""
    acting = {step.role for step in scenario.steps if step.by != "bot"}
    return [role for role in scenario.roles if role in acting]


def first_console(scenario: Scenario, roles) -> str | None:
    """Of these roles, the one whose console a learner opens first: the first to have a step."""
    roles = list(roles)
    return next((s.role for s in scenario.steps if s.role in roles), roles[0] if roles else None)


def start_practice(scenario: Scenario, user_id: int, roles: list[str],
                   bot_delay: float) -> tuple[Run, str | None]:
    """A running practice run with the learner in these seats (bots play the others), and the
    role whose console comes first. Flushes; the caller commits."""
    run = create_run(scenario, kind="solo", owner_id=user_id, start=True, bot_delay=bot_delay,
                     seats={role: [user_id] for role in roles})
    return run, first_console(scenario, roles)


def build_world(run: Run, scenario: Scenario) -> None:
    """The opening world of a run: its parties with their bank accounts, products with their
    opening stock (a stock card line each) and, in B2B, the buyer's membership application."""
    world = scenario.world
    accounts = world.get("accounts") or {}
    parties = [("buyer", "buyer", buyer_name(run, scenario)),
               ("company", "company", world["company"]["name"]),
               ("escrow", "escrow", ESCROW_NAME)]
    parties += [(f"vendor:{v['key']}", "vendor", v["name"]) for v in world.get("vendors") or []]
    for i, (key, kind, name) in enumerate(parties):
        default = DEFAULT_BALANCE if key in ("buyer", "company") else 0
        balance = accounts.get(key.removeprefix("vendor:"), default)
        db.session.add(Party(run_id=run.id, key=key, kind=kind, name=name,
                             balance_cents=round(float(balance) * 100),
                             account_no=f"6222 8{run.id:07d} {i + 1:04d}"))
    now = utcnow()
    for item in world.get("products") or []:
        product = Product(run_id=run.id, sku=str(item["sku"]), name=item["name"],
                          price_cents=round(float(item["price"]) * 100),
                          cost_cents=round(float(item.get("cost", 0)) * 100),
                          stock=int(item.get("stock", 0)),
                          vendor_key=f"vendor:{item['vendor']}" if item.get("vendor") else None)
        db.session.add(product)
        db.session.flush()
        if product.stock:
            db.session.add(StockMove(run_id=run.id, product_id=product.id, qty=product.stock,
                                     stock_after=product.stock, reason="opening", at=now))
    if scenario.mode == "b2b" and world["buyer"].get("approved") is False:
        db.session.add(Membership(run_id=run.id, number="HY-0001", state="applied",
                                  party_key="buyer", data={}))


# Runs where people hold seats: the buyer's account bears the name of who plays the buyer.
# (Autoplay and headless runs keep the scenario's persona.)
NAMED_KINDS = ("class", "solo")


def buyer_name(run: Run, scenario: Scenario):
    """The name of the buyer's bank account: the scenario's persona, with the student who holds
    the buyer seat. A consumer (B2C) is the student, playing the persona: "张三(林伟)"; a buying
    company (B2B) is the persona, operated by the student: "海港餐饮有限公司(张三)". With nobody
    in the seat (bots play it) or in an autoplay run: the persona alone."""
    persona = scenario.world["buyer"]["name"]
    if run.kind not in NAMED_KINDS:
        return persona
    holders = db.session.execute(
        select(User.name, User.username).join(Seat, Seat.user_id == User.id)
        .where(Seat.run_id == run.id, Seat.role == "buyer").order_by(Seat.id)).all()
    if not holders:
        return persona
    names = [(name or username).strip()[:40] for name, username in holders]
    persona = persona if isinstance(persona, dict) else {"en": persona, "zh": persona}
    out = {}
    for lang, sep, left, right in (("en", ", ", " (", ")"), ("zh", "、", "(", ")")):
        student = sep.join(names)
        own = persona.get(lang) or next(iter(persona.values()), "")
        out[lang] = f"{student}{left}{own}{right}" if scenario.mode == "b2c" \
            else f"{own}{left}{student}{right}"
    return out


def seat(run: Run, user_id: int, role: str) -> None:
    exists = db.session.scalar(select(Seat.id).where(Seat.run_id == run.id,
                                                     Seat.user_id == user_id, Seat.role == role))
    if exists is None:
        db.session.add(Seat(run_id=run.id, user_id=user_id, role=role))


# ---- the run's clock --------------------------------------------------------------------------
# Each change of the clock is an event of the run's log (actor and role "instructor", by the
# instructor who pressed the button): it raises run.last_event_id, so open consoles see it at
# their next poll, and the replay shows it. Grading and the bots ignore these actions.

CLOCK_ACTIONS = ("start_run", "pause_run", "resume_run", "finish_run")
# An instructor reset the run to before a step (lab/classroom/repair.py): its params name the
# step, the reason and the archived run that keeps what was undone.
RESET_ACTION = "reset_run"


def lock(run: Run) -> None:
    """Take the lock perform() takes on the run's row (see lab/engine/core.py) and re-read the
    run: an action in flight finishes first, and the status we check is the current one."""
    db.session.execute(update(Run).where(Run.id == run.id)
                       .values(last_event_id=Run.last_event_id)
                       .execution_options(synchronize_session=False))
    db.session.refresh(run)


def _clock_event(run: Run, action: str, by: int | None, now: datetime) -> Event:
    event = Event(run_id=run.id, at=now, user_id=by, actor="instructor", role="instructor",
                  action=action, ok=True, params={}, result={})
    db.session.add(event)
    db.session.flush()
    run.last_event_id = event.id  # the run's row is locked: no later event can exist
    return event


def start(run: Run, by: int | None = None) -> None:
    lock(run)
    if run.status != "ready":
        raise NotAllowed(N_("The run is %(status)s: only a run that is ready can start."),
                         status=run.status)
    now = utcnow()
    run.status, run.started_at = "running", now
    _clock_event(run, "start_run", by, now)


def pause(run: Run, by: int | None = None) -> None:
    lock(run)
    if run.status != "running":
        raise NotAllowed(N_("Only a running run can be paused."))
    now = utcnow()
    run.status, run.paused_at = "paused", now
    _clock_event(run, "pause_run", by, now)


def _unpause(run: Run, now: datetime) -> None:
    run.paused_seconds = (run.paused_seconds or 0) + (now - run.paused_at).total_seconds()
    run.status, run.paused_at = "running", None


def resume(run: Run, by: int | None = None) -> None:
    lock(run)
    if run.status != "paused":
        raise NotAllowed(N_("Only a paused run can be resumed."))
    now = utcnow()
    _unpause(run, now)
    _clock_event(run, "resume_run", by, now)


def finish(run: Run, by: int | None = None) -> None:
    lock(run)
    if run.status == "finished":
        raise NotAllowed(N_("The run is already finished."))
    now = utcnow()
    if run.status == "paused":
        _unpause(run, now)  # the paused time does not count; one event: the finish
    if run.status == "ready":
        run.started_at = run.started_at or now
    run.status, run.finished_at = "finished", now
    _clock_event(run, "finish_run", by, now)


# ---- grade --------------------------------------------------------------------------------------

def events_of(run: Run) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.run_id == run.id)
                                   .order_by(Event.id)))


def grade_run(run: Run, events: list[Event] | None = None, now: datetime | None = None) -> Grade:
    views = [EventView.of(e) for e in (events if events is not None else events_of(run))]
    # Paused time does not count against the time limit: shift the start by it.
    from datetime import timedelta
    started = run.started_at + timedelta(seconds=run.paused_seconds or 0) \
        if run.started_at else None
    # While paused the clock stands still: lateness is counted up to the pause.
    return grade(scenario_of(run), views, started_at=started,
                 now=run.finished_at or run.paused_at or now or utcnow())


def forget_grades() -> None:
    """Drop this request's cached grades (a run's log was rewritten by a reset)."""
    if has_request_context():
        g.pop("_lab_grades", None)


def current_grade(run: Run) -> Grade:
    """The grade as the run stands, computed once per request and run state (its last accepted
    event): an inbox, the guide and the rules ask it many times while rendering one page.
    (A refusal does not move the run's last event: pages are answered after a redirect, in a
    request that has not recorded one.)"""
    if not has_request_context():
        return grade_run(run)
    cache = g.setdefault("_lab_grades", {})
    key = (run.id, run.last_event_id)
    if key not in cache:
        cache[key] = grade_run(run)
    return cache[key]


# ---- a self-learner's practice runs: abandon, restart ------------------------------------------

def discard(run_id: int, owner_id: int) -> bool:
    """Delete a practice run of this owner with its world, seats and events (delete_runs).
    False when it is not there any more (a second press of the button, another tab): the first
    statement writes the run's row, so a second request waits for the first (a row lock on
    PostgreSQL, the write lock on SQLite) and then finds nothing."""
    claimed = db.session.execute(
        update(Run).where(Run.id == run_id, Run.kind == "solo", Run.owner_id == owner_id)
        .values(last_event_id=Run.last_event_id)
        .execution_options(synchronize_session=False)).rowcount
    if not claimed:
        return False
    delete_runs([run_id])
    db.session.expire_all()
    forget_grades()
    return True


def delete_runs(run_ids: list[int]) -> None:
    """Delete runs (and the runs archived from them) with every row of their worlds, children
    before parents. Not left to ON DELETE CASCADE: on PostgreSQL each cascade is a statement of
    its own, and a product would go before the document lines that name it."""
    if not run_ids:
        return
    run_ids = run_ids + list(db.session.scalars(select(Run.id).where(
        Run.archived_from_id.in_(run_ids))))
    ordered = db.metadata.sorted_tables  # parents before children
    for table in reversed(ordered):
        if table.name == "run":
            continue
        if "run_id" in table.c:
            db.session.execute(delete(table).where(table.c.run_id.in_(run_ids)))
            continue
        for fk in table.foreign_keys:  # a row of a run's row (a document's lines)
            parent = fk.column.table
            if "run_id" in parent.c and fk.column.name == "id":
                db.session.execute(delete(table).where(fk.parent.in_(
                    select(parent.c.id).where(parent.c.run_id.in_(run_ids)))))
    db.session.execute(delete(Run).where(Run.archived_from_id.in_(run_ids))
                       .execution_options(synchronize_session=False))
    db.session.execute(delete(Run).where(Run.id.in_(run_ids))
                       .execution_options(synchronize_session=False))


def restart(run: Run) -> Run | None:
    """A fresh run of the same scenario (the text the run started from) with the same seats, in
    place of this practice run; None when the run was already restarted or abandoned."""
    scenario = scenario_of(run)
    seats: dict[str, list[int]] = {}
    for held in run.seats:
        seats.setdefault(held.role, []).append(held.user_id)
    old_id, owner_id, bot_delay = run.id, run.owner_id, run.bot_delay_seconds
    # The fresh run first, so it never takes the old one's id (SQLite reuses the highest).
    fresh = create_run(scenario, kind="solo", owner_id=owner_id, seats=seats, start=True,
                       bot_delay=bot_delay)
    fresh_id = fresh.id
    if not discard(old_id, owner_id):
        discard(fresh_id, owner_id)
        return None
    return db.session.get(Run, fresh_id)
