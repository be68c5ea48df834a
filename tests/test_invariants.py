"""Invariants of every flow: stock never below zero, money conserved across all accounts, every
document made by exactly one accepted action (lab/verify.py, the `lab verify` command, checks
these), state changed only by the engine."""
import re
from pathlib import Path

import pytest
from sqlalchemy import func

from lab.headless import autoplay as play_headless
from lab.extensions import db
from lab.models import Event, Party
from lab.scenario import load_file
from lab.verify import verify

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

    # Money is conserved: all balances (escrow and vendors included) add up to the opening sum.
    assert db.session.scalar(func.sum(Party.balance_cents)) == opening_money
    # Each account equals its opening balance plus its transfers, each stock its stock card,
    # every document was made by one accepted action: the lab's own check (lab verify).
    report = verify()
    assert report.differences == [], "\n".join(report.lines())
    assert report.counts["transfers"] and report.counts["stock_moves"]
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
