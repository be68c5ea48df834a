"""Invariants of every flow: stock never below zero, money conserved across all accounts, every
document made by exactly one accepted action, state changed only by the engine."""
import re
from pathlib import Path

import pytest
from sqlalchemy import func

from lab.headless import autoplay as play_headless
from lab.extensions import db
from lab.models import Document, Event, Party, Product, StockMove, Transfer
from lab.scenario import load_file

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "scenarios" / "valid").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_flow_invariants(app, path):
    scenario = load_file(path)
    opening_money = round(sum((scenario.world.get("accounts") or {}).get(k, 100000.0 if k in (
        "buyer", "company") else 0) for k in ["buyer", "company"] + [
        v["key"] for v in scenario.world.get("vendors") or []]) * 100)
    result = play_headless(scenario)
    assert result["completed"], result["stuck"]

    # Money is conserved: all balances (escrow and vendors included) add up to the opening sum,
    # and each account's balance equals its opening balance plus its transfers.
    assert db.session.scalar(func.sum(Party.balance_cents)) == opening_money
    for party in db.session.scalars(db.select(Party)):
        moved_in = db.session.scalar(db.select(func.coalesce(func.sum(Transfer.amount_cents), 0))
                                     .where(Transfer.to_party_id == party.id))
        moved_out = db.session.scalar(db.select(func.coalesce(func.sum(Transfer.amount_cents),
                                                              0))
                                      .where(Transfer.from_party_id == party.id))
        opening = round((scenario.world.get("accounts") or {}).get(
            party.key.removeprefix("vendor:"),
            100000.0 if party.key in ("buyer", "company") else 0) * 100)
        assert party.balance_cents == opening + moved_in - moved_out >= 0

    # Stock never went below zero, and each product's stock is the sum of its card.
    assert db.session.scalar(func.min(StockMove.stock_after)) >= 0
    for product in db.session.scalars(db.select(Product)):
        total = db.session.scalar(db.select(func.coalesce(func.sum(StockMove.qty), 0))
                                  .where(StockMove.product_id == product.id))
        assert product.stock == total >= 0

    # Every document was made by one accepted action (or the world, for a membership).
    events = db.session.scalars(db.select(Event).where(Event.ok.is_(True))).all()
    made = [e.result.get("number") for e in events if e.result.get("number")]
    assert len(made) == len(set(made))
    for document in db.session.scalars(db.select(Document)):
        if document.kind == "membership":
            continue
        assert document.number in made or document.kind == "shortage", document
    assert not db.session.scalars(db.select(Event).where(Event.ok.is_(False))).all()


ASSIGNS_STATE = re.compile(r"\.(state|payment)\s*=[^=]")


def test_only_the_engine_assigns_a_documents_state():
    offenders = []
    for path in list((ROOT / "lab").rglob("*.py")) + list((ROOT / "roles").rglob("*.py")):
        if "engine" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ASSIGNS_STATE.search(line) and "reflection" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
