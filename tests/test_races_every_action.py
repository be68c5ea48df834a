"""Every scripted action of every shipped scenario, sent twenty times at once (a button pressed
in a storm: the same form, the same one-time key): it happens once, the others are answered
"already done" or refused, and `lab verify` finds the books in order afterwards. On SQLite and
PostgreSQL (the `app` fixture runs both when TEST_DATABASE_URL is set)."""
import pytest
from sqlalchemy import func, select

from lab.engine import Actor, perform
from lab.errors import DomainError, InvalidInput
from lab.extensions import db
from lab.models import Event, Run
from lab.plan import plan
from lab.runs import grade_run, scenario_of
from lab.verify import verify
from tests.helpers import SCENARIOS, play, start_run
from tests.test_races import race

TIMES = 20
ALL = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def accepted(run_id: int, action: str) -> int:
    return db.session.scalar(select(func.count(Event.id)).where(
        Event.run_id == run_id, Event.action == action, Event.ok.is_(True)))


@pytest.mark.parametrize("slug", ALL)
def test_every_step_pressed_twenty_times_at_once_happens_once(app, slug):
    run = start_run(slug)
    raced = 0
    for step in scenario_of(run).steps:
        play(db.session.get(Run, run.id), until=step.id)  # what comes before, once
        run = db.session.get(Run, run.id)
        moves = [m for m in plan(run, grade_run(run)).for_step(step.id) if not m.gap]
        if not moves:
            continue  # the step waits for something else first: played by the next play()
        move = moves[0]
        doc_id = move.doc.id if move.doc is not None else None
        before = accepted(run.id, move.action)

        def press(i, run=run, move=move, doc_id=doc_id, key=f"storm-{step.id}"):
            return perform(run.id, Actor(move.role, "bot"), move.action, doc_id,
                           dict(move.params), request_key=key, record_refusal=False)

        results = race(app, TIMES, press)
        db.session.expire_all()
        done = accepted(run.id, move.action) - before
        errors = [r for r in results if isinstance(r, DomainError)]
        if done == 0 and errors and all(isinstance(e, InvalidInput) for e in errors):
            continue  # the script leaves an input to the player: play() fills it in
        assert done == 1, f"{slug} step {step.id} ({move.action}) happened {done} times"
        assert len(errors) == TIMES - 1, [str(e) for e in errors]
        raced += 1
        report = verify(run_ids=[run.id])
        assert report.ok, report.lines()
    assert raced >= 3, f"only {raced} steps of {slug} could be raced"
    play(db.session.get(Run, run.id))
    assert grade_run(db.session.get(Run, run.id)).completed
    assert verify(run_ids=[run.id]).ok
