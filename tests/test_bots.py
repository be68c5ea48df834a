"""Bots: they play the roles nobody holds and the steps given to a bot, never a student's."""
from datetime import timedelta

from lab import bots
from lab.extensions import db
from lab.models import Event, Run
from lab.runs import grade_run
from lab.engine import Actor, perform
from tests.helpers import act, doc, login, make_user, start_run, stock


def as_student(user, run, role, action, document=None, **params):
    return perform(run.id, Actor(role, "student", user.id), action, document, params)


def met(run):
    return [s.id for s in grade_run(db.session.get(Run, run.id)).steps if s.met]


def test_bots_play_every_role_nobody_holds_and_wait_for_the_student(app):
    buyer = make_user("stu")
    run = start_run("b2c-normal", seats={"buyer": [buyer.id]})
    assert bots.tick(run.id) == 0  # the first step is the student's
    as_student(buyer, run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
               payment="bank_transfer")
    assert bots.tick(run.id) == 1  # sales (a bot) accepts
    assert met(run) == ["order", "accept"]
    assert bots.tick(run.id) == 0  # paying is the student's move
    as_student(buyer, run, "buyer", "pay_order", doc(run, "order"))
    assert bots.tick(run.id, ignore_delay=True) == 3  # finance, warehouse, logistics; then wait
    assert met(run) == ["order", "accept", "pay", "confirm-payment", "ship", "deliver"]
    assert stock(run, "TEA-250") == 98
    bot_events = db.session.scalars(db.select(Event).where(Event.actor == "bot")).all()
    assert {e.role for e in bot_events} == {"supplier", "finance", "warehouse", "logistics"}


def test_by_bot_step_is_performed_even_when_the_role_is_held(app):
    buyer = make_user("stu")
    run = start_run("b2c-return", seats={"buyer": [buyer.id]})  # its order step is `by: bot`
    assert bots.tick(run.id) == 1
    assert met(run) == ["order"] and doc(run, "order").state == "placed"


def test_bots_wait_for_at_minute(app):
    run = start_run_from("tests/scenarios/valid/two-cases.yaml")
    bots.tick(run.id, ignore_delay=True)
    assert "second" not in met(run)  # due at minute 2
    r = db.session.get(Run, run.id)
    r.started_at -= timedelta(minutes=3)
    db.session.commit()
    bots.tick(run.id, ignore_delay=True)
    assert "second" in met(run)


def test_bots_wait_for_their_delay(app):
    run = start_run("b2c-normal", bot_delay=60)
    assert bots.tick(run.id) == 0
    assert bots.tick(run.id, ignore_delay=True) > 0


def test_poll_gives_bots_their_turn_and_reports_news(app, client):
    user = make_user("stu")
    run = start_run("b2c-normal", seats={"buyer": [user.id]})
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    login(client, "stu")
    first = client.get(f"/live/{run.id}?since=0").get_json()
    assert first["changed"] is True
    assert doc(run, "order").state == "accepted"  # the sales bot acted on the poll
    again = client.get(f"/live/{run.id}?since={first['last']}").get_json()
    assert again == {"last": first["last"], "status": "running", "changed": False,
                     "left": again["left"]}
    assert 29 * 60 <= again["left"] <= 30 * 60  # b2c-normal: 30 minutes


def test_poll_of_another_run_is_not_found(app, client):
    make_user("stu")
    run = start_run("b2c-normal")
    login(client, "stu")
    assert client.get(f"/live/{run.id}").status_code == 404


def start_run_from(path):
    from lab.runs import create_run
    from lab.scenario import load_file
    run = create_run(load_file(path), start=True, bot_delay=0)
    db.session.commit()
    return run
