"""The registry as a whole, without HTTP: every action is declared completely, and every shipped
scenario, walked step by step, keeps the engine's promises at every step:

- money is conserved (the sum of all accounts never changes) and no stock or balance is negative;
- an action that does not fit yet is refused with a message naming what must come first, and
  following those refusals leads to something that can be done now (never a dead end);
- each accepted action is exactly one event and changes documents of its own case only;
- pressing the same button again right after is "already done" and changes nothing."""
from pathlib import Path

import pytest
from flask_babel import force_locale

from lab.bots import play_step
from lab.plan import document_for
from lab.engine import Actor, check, perform, planner, registry
from lab.engine.labels import ROLE_LABELS, B2B_ROLE_LABELS, STATE_LABELS
from lab.errors import AlreadyDone, NotAllowed
from lab.extensions import db
from lab.models import Document, Party, Product
from lab.runs import grade_run, scenario_of
from tests.helpers import events, start_run

ROOT = Path(__file__).resolve().parent.parent
SLUGS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
FIELD_KINDS = {"int", "money", "text", "choice", "date", "password", "lines", "vendor"}


@pytest.mark.parametrize("name", sorted(registry.REGISTRY))
def test_every_action_is_declared_completely(app, name):
    action = registry.REGISTRY[name]
    assert action.role in ROLE_LABELS, action.role
    for lang in ("en", "zh"):
        with force_locale(lang):
            assert str(action.label).strip(), f"{name} has no {lang} label"
    for mode in action.modes:
        if action.on is not None:
            assert action.sources(mode), f"{name} acts on a {action.on} in no state ({mode})"
        for state in action.sources(mode) + ((action.to_state,) if action.to_state else ()):
            assert state in STATE_LABELS, f"{name}: state {state} has no label"
    assert {f.kind for f in action.inputs} <= FIELD_KINDS
    assert len({f.name for f in action.inputs}) == len(action.inputs)


def snapshot_docs() -> dict:
    db.session.expire_all()
    return {d.id: (d.state, d.payment, d.case_id) for d in db.session.scalars(db.select(Document))}


def ledgers() -> tuple:
    return (tuple(db.session.scalars(db.select(Product.stock).order_by(Product.id))),
            tuple(db.session.scalars(db.select(Party.balance_cents).order_by(Party.id))))


def follow(run, refusal, limit=8) -> list[str]:
    """The chain of what must come first, from a refusal to something possible now."""
    chain = []
    while limit:
        need = refusal.need
        assert need is not None and need.action in registry.REGISTRY, refusal
        target = db.session.get(Document, need.doc_id) if need.doc_id else None
        chain.append(need.action)
        refusal = check(run, Actor(need.role, "bot"), need.action, target)
        if refusal is None:
            return chain
        assert isinstance(refusal, NotAllowed), (
            f"{' <- '.join(chain)}: the action named first is refused as "
            f"{type(refusal).__name__}: {refusal}")
        limit -= 1
    raise AssertionError("what must come first never ends: " + " <- ".join(chain))


def role_names(role: str) -> set[str]:
    with force_locale("en"):
        return {str(ROLE_LABELS[role])} | (
            {str(B2B_ROLE_LABELS[role])} if role in B2B_ROLE_LABELS else set())


# A second return of what is left of an order is a new request, not the same one twice.
REPEATABLE = {"request_return"}


def _walk(slug):
    run = start_run(slug)
    steps = scenario_of(run).steps
    money = sum(ledgers()[1])
    for k, step in enumerate(steps):
        cases = grade_run(run).case_ids()
        # Every later step that has its document already: possible, or refused naming first.
        for later in steps[k + 1:]:
            target = document_for(run, later, cases)
            if target is False:
                continue
            refusal = check(run, Actor(later.role, "bot"), later.action, target)
            if refusal is None:
                continue
            if isinstance(refusal, AlreadyDone) and any(
                    s.action == later.action for s in steps[:k]):
                continue  # the script does it again later (after a rejection, say)
            spec = registry.get(later.action)
            if isinstance(refusal, NotAllowed) and refusal.need is None and target is not None \
                    and planner.first_step(target.kind, run.mode, target.state,
                                           spec.sources(run.mode)) is None:
                with force_locale("en"):
                    assert "no longer possible" in refusal.message
                continue  # a rejected document: nothing can bring it back
            assert isinstance(refusal, NotAllowed) and refusal.need is not None, (
                f"before {step.id}: {later.id} refused without naming what comes first: "
                f"{type(refusal).__name__}: {refusal}")
            with force_locale("en"):
                message = refusal.message
            assert any(name in message for name in role_names(refusal.need.role)), message
            follow(run, refusal)

        # Perform the step (and whatever must come first): one event per action.
        while not next(s for s in grade_run(run).steps if s.id == step.id).met:
            before_docs, before_events = snapshot_docs(), events(run)
            assert play_step(run, step), f"{step.id} could not be played"
            new = events(run)[len(before_events):]
            assert len(new) == 1, new
            event = new[0]
            after_docs = snapshot_docs()
            changed = {i for i in after_docs if after_docs[i] != before_docs.get(i)}
            assert changed or event.action in ("publish_product",), \
                f"{event.action} changed no document"
            stocks, balances = ledgers()
            assert sum(balances) == money, f"{event.action} made or lost money"
            assert min(stocks, default=0) >= 0 and min(balances) >= 0
            assert {after_docs[i][2] for i in changed} <= {event.case_id, None} or \
                event.case_id is None, f"{event.action} changed another case's documents"

            # The same button pressed again: already done, nothing changes.
            spec = registry.get(event.action)
            if spec.on is not None and spec.name not in REPEATABLE:
                target = db.session.get(Document, event.document_id)
                dry = check(run, Actor(spec.role, "bot"), spec.name, target)
                before = snapshot_docs(), ledgers(), len(events(run, ok=None))
                with pytest.raises(AlreadyDone) as again:
                    perform(run.id, Actor(spec.role, "bot"), spec.name, target.id,
                            dict(event.params or {}))
                assert (snapshot_docs(), ledgers(), len(events(run, ok=None))) == before
                with force_locale("en"):
                    assert target.number in again.value.message, again.value.message
                    assert again.value.message.startswith("Already done"), again.value.message
                assert isinstance(dry, AlreadyDone), (spec.name, dry)  # the dry run agrees
    graded = grade_run(run)
    assert graded.completed and not graded.mistakes
    return run


@pytest.mark.parametrize("slug", SLUGS)
def test_walking_a_scenario_keeps_the_engine_promises(app, slug):
    _walk(slug)


def test_confirming_cash_on_delivery_after_shipping_names_the_delivery(app):
    from tests.helpers import doc, play
    run = play(start_run("b2c-escrow-cod"), until="cod-deliver")
    cod = doc(run, "order", 2)
    assert (cod.state, cod.payment) == ("shipped", "unpaid")
    refusal = check(run, Actor("finance", "bot"), "confirm_payment", cod)
    assert isinstance(refusal, NotAllowed) and refusal.need.action == "deliver_order"


def test_the_dry_run_knows_a_shortage_was_forwarded(app):
    from tests.helpers import doc, play
    run = play(start_run("b2c-out-of-stock"), until="po")
    order = doc(run, "order")
    with pytest.raises(AlreadyDone):
        perform(run.id, Actor("supplier", "bot"), "forward_shortage", order.id, {})
    assert isinstance(check(run, Actor("supplier", "bot"), "forward_shortage", order),
                      AlreadyDone)
