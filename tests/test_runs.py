"""Runs isolate worlds and keep the scenario text they started from."""
import pytest

from lab.errors import NotAllowed, NotFound
from lab.extensions import db
from lab.models import Run
from lab.runs import finish, grade_run, pause, resume
from tests.helpers import act, balance, doc, start_run, stock


def test_two_runs_of_one_scenario_do_not_see_each_other(app):
    first, second = start_run("b2c-normal"), start_run("b2c-normal")
    act(first, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    order = doc(first, "order")
    with pytest.raises(NotFound):
        act(second, "supplier", "accept_order", order.id)  # another run's order id
    assert stock(second, "TEA-250") == 100 and balance(second, "buyer") == "20000.00"


def test_a_run_is_graded_by_the_text_it_started_from(app):
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    before = grade_run(run).to_json()
    # The library file is edited afterwards: the stored text, not the file, grades the run.
    stored = db.session.get(Run, run.id).scenario_text
    assert "points: 10" in stored and before["score"] == 10
    assert grade_run(db.session.get(Run, run.id)).to_json() == before


def test_paused_and_finished_runs_refuse_actions(app):
    run = start_run("b2c-normal")
    pause(run)
    db.session.commit()
    with pytest.raises(NotAllowed):
        act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
            payment="bank_transfer")
    run = db.session.get(Run, run.id)
    resume(run)
    finish(run)
    db.session.commit()
    with pytest.raises(NotAllowed):
        act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
            payment="bank_transfer")
    assert db.session.get(Run, run.id).status == "finished"
