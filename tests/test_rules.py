"""The script's rules (SCENARIO_FORMAT.md, second edition): what students may do off the script,
what it costs, and that bots, the plan and grading carry on from the world as it is."""
import json

import pytest
import yaml

from tests.helpers import SCENARIOS, doc, events, make_user, start_run, stock
from lab import headless, runs
from lab.engine import Actor, perform
from lab.errors import DomainError, NotAllowed
from lab.extensions import db
from lab.models import Document, Run
from lab.plan import plan
from lab.rules import fill_in, world_values
from lab.runs import create_run, grade_run
from lab.scenario import load, load_file, validate

pytestmark = pytest.mark.usefixtures("english")


def seated(slug_or_scenario, *roles):
    """A running run with one student holding the given roles (bots wait for the test)."""
    user = make_user(f"s{db.session.query(Run).count()}")
    if isinstance(slug_or_scenario, str):
        run = start_run(slug_or_scenario, seats={r: [user.id] for r in roles})
    else:
        run = create_run(slug_or_scenario, seats={r: [user.id] for r in roles}, start=True,
                         bot_delay=0)
        db.session.commit()
    return run, user


def as_student(run, user, role, action, document=None, key=None, **params):
    return perform(run.id, Actor(role, "student", user.id), action, document, params,
                   request_key=key)


def bots_until(run, step_id):
    headless.drive(db.session.get(Run, run.id), until=step_id)
    return db.session.get(Run, run.id)


def step(run, step_id):
    return grade_run(db.session.get(Run, run.id)).result(step_id)


# ---- strict checks (the default) ----------------------------------------------------------------

def test_strict_check_refuses_500_naming_the_expected_20_and_the_step_and_changes_nothing(app):
    run, user = seated("b2c-out-of-stock", "supplier")
    run = bots_until(run, "shortage")
    order = doc(run, "order")
    with pytest.raises(NotAllowed) as refused:
        as_student(run, user, "supplier", "forward_shortage", order, qty=500)
    assert refused.value.message == ("Quantity should be 20, not 500 (step 3 “Forward shortage "
                                     "to purchasing”).")
    assert refused.value.field == "qty"
    assert db.session.query(Document).filter_by(run_id=run.id, kind="shortage").count() == 0
    as_student(run, user, "supplier", "forward_shortage", order, qty=20)
    assert step(run, "shortage").status == "met" and step(run, "shortage").points == 10
    headless.drive(run)
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.completed and graded.score == 89 and graded.max_score == 90
    assert [loss.text for loss in graded.losses] == [refused.value.message]


def test_a_stock_loss_changes_what_the_step_expects_and_the_hint_shows_it(app):
    run, user = seated("b2c-out-of-stock", "supplier")
    run = bots_until(run, "accept")
    perform(run.id, Actor("instructor", "instructor"), "inject_stock_loss", None,
            {"sku": "TEA-250", "qty": 10})
    order = doc(run, "order")
    assert world_values(run, order.case_id)["shortfall"] == 30
    shortage_step = load_file(SCENARIOS / "b2c-out-of-stock.yaml").step("shortage")
    assert fill_in(shortage_step.hint["en"], world_values(run, order.case_id)) == \
        "Sales: forward the shortage of 30 boxes to purchasing."
    run = bots_until(run, "shortage")
    with pytest.raises(DomainError) as refused:
        as_student(run, user, "supplier", "forward_shortage", order, qty=20)
    assert "30" in refused.value.message  # the world wants at least 30
    as_student(run, user, "supplier", "forward_shortage", order, qty=30)
    assert step(run, "shortage").status == "met"
    headless.drive(run)
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.completed and graded.score == 89  # only the refused 20 cost a point
    assert stock(run, "TEA-250") == 0  # 100 − 10 lost + 30 bought − 120 shipped


def test_strict_order_refuses_paying_before_the_payment_reminder(app):
    run, user = seated("b2b-normal", "buyer")
    run = bots_until(run, "remind")
    buyer_before = grade_run(run).score
    with pytest.raises(NotAllowed) as refused:
        as_student(run, user, "buyer", "pay_order", doc(run, "order"))
    assert refused.value.message == ("Not yet: step 7 “Send payment reminder” (Warehouse) comes "
                                     "first.")
    assert doc(run, "order").payment == "unpaid"
    assert grade_run(run).score == buyer_before - 1  # one refused attempt


def test_the_same_refused_form_sent_twice_is_one_mistake(app):
    run, user = seated("b2c-out-of-stock", "supplier")
    run = bots_until(run, "shortage")
    for _ in range(3):
        with pytest.raises(NotAllowed):
            as_student(run, user, "supplier", "forward_shortage", doc(run, "order"),
                       key="form-key-1234", qty=500)
    assert len(events(run, ok=False)) == 1
    with pytest.raises(NotAllowed):
        as_student(run, user, "supplier", "forward_shortage", doc(run, "order"),
                   key="form-key-5678", qty=500)
    assert len(events(run, ok=False)) == 2


def test_a_click_on_a_paused_or_ended_run_is_a_message_and_costs_nothing(app):
    run, user = seated("b2c-normal", "supplier")
    run = bots_until(run, "accept")
    runs.pause(run)
    db.session.commit()
    with pytest.raises(NotAllowed) as refused:
        as_student(run, user, "supplier", "accept_order", doc(run, "order"))
    assert "paused" in refused.value.message
    run = db.session.get(Run, run.id)
    runs.resume(run)
    runs.finish(run)
    db.session.commit()
    with pytest.raises(NotAllowed):
        as_student(run, user, "supplier", "accept_order", doc(run, "order"))
    assert events(run, ok=False) == []


# ---- loose rules and unscripted actions -------------------------------------------------------

LOOSE = (SCENARIOS / "b2c-out-of-stock.yaml").read_text(encoding="utf-8").replace(
    "id: b2c-out-of-stock", "id: loose-oos\nrules: {order: loose, checks: loose}")


def test_loose_checks_accept_500_and_grade_the_step_missed_with_its_reason(app):
    run, user = seated(load(LOOSE), "supplier")
    run = bots_until(run, "shortage")
    as_student(run, user, "supplier", "forward_shortage", doc(run, "order"), qty=500)
    missed = step(run, "shortage")
    assert missed.status == "missed" and missed.points == 0
    assert missed.reason_text == ("Quantity should be 20, not 500 (step 3 “Forward shortage to "
                                  "purchasing”).")
    headless.drive(run)
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.completed and graded.score == 80  # exactly the shortage's 10 points lost
    assert [(loss.points, loss.text) for loss in graded.losses] == [(10, missed.reason_text)]
    assert [s.id for s in graded.steps if s.status != "met"] == ["shortage"]


def test_loose_order_accepts_out_of_order_and_names_the_step_that_came_first(app):
    text = (SCENARIOS / "b2b-normal.yaml").read_text(encoding="utf-8").replace(
        "id: b2b-normal", "id: loose-b2b\nrules: {order: loose}")
    run, user = seated(load(text), "buyer")
    run = bots_until(run, "remind")
    as_student(run, user, "buyer", "pay_order", doc(run, "order"))
    pay = step(run, "pay")
    assert pay.status == "missed"
    assert pay.reason_text == ("Out of order: step 7 “Send payment reminder” (Warehouse) "
                               "comes first.")
    headless.drive(run)
    graded = grade_run(db.session.get(Run, run.id))
    # The reminder can no longer be sent: it is passed over (out of the maximum), and only the
    # buyer's out-of-order payment costs its points.
    remind = graded.result("remind")
    assert remind.status == "skipped" and remind.reason_text == (
        "Passed over: step 8 “Pay” was done before it, and now it can no longer be done.")
    # (b2b-normal: 95 points; the reminder's 10 are out of the maximum; delivery is a bot's step,
    # worth nothing; the payment's 10 are lost)
    assert graded.completed and graded.max_score == 85 - 5 and graded.score == 75 - 5
    assert [loss.text for loss in graded.losses] == [pay.reason_text]


UNSCRIPTED = """
format: 1
id: unscripted
title: Unscripted
mode: b2c
roles: [buyer, supplier, mall_admin]
rules: {unscripted: %s}
world:
  products: [{sku: A1, name: A, price: 10, stock: 5}]
script:
  - {id: order, role: buyer, action: place_order,
     with: {lines: [{sku: A1, qty: 1}], payment: bank_transfer}, by: bot}
  - {id: accept, role: supplier, action: accept_order, points: 10}
scoring: {unscripted_penalty: 2}
"""


def test_unscripted_allow_lists_the_action_and_costs_its_penalty_with_a_reason(app):
    run, user = seated(load(UNSCRIPTED % "allow"), "mall_admin", "supplier")
    run = bots_until(run, "accept")
    as_student(run, user, "mall_admin", "post_notice", None, title="Sale", body="All week")
    as_student(run, user, "supplier", "accept_order", doc(run, "order"))
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.completed and [e.action for e in graded.unscripted] == ["post_notice"]
    assert graded.score == 8
    assert [loss.text for loss in graded.losses] == ["“Post notice” is not in the script."]


def test_unscripted_refuse_refuses_what_the_script_does_not_ask(app):
    run, user = seated(load(UNSCRIPTED % "refuse"), "mall_admin", "supplier")
    run = bots_until(run, "accept")
    with pytest.raises(NotAllowed) as refused:
        as_student(run, user, "mall_admin", "post_notice", None, title="Sale", body="All week")
    assert refused.value.message == "The scenario does not ask for “Post notice” now."
    assert db.session.query(Document).filter_by(run_id=run.id, kind="notice").count() == 0


# ---- repairs ------------------------------------------------------------------------------

def test_an_instructor_marks_a_step_done_or_skipped_and_the_run_goes_on(app):
    run, user = seated("b2c-out-of-stock", "supplier", "purchasing")
    run = bots_until(run, "shortage")
    instructor = Actor("instructor", "instructor")
    with pytest.raises(DomainError):
        perform(run.id, instructor, "mark_step", None,
                {"step": "nope", "verdict": "done", "reason": "x"})
    with pytest.raises(NotAllowed):
        perform(run.id, instructor, "mark_step", None,
                {"step": "order", "verdict": "done", "reason": "x"})
    other, _ = seated("b2c-out-of-stock", "supplier")  # its order is not placed yet
    with pytest.raises(NotAllowed) as refused:
        perform(other.id, instructor, "mark_step", None,
                {"step": "order", "verdict": "skipped", "reason": "x"})
    assert "starts an order" in refused.value.message
    perform(run.id, instructor, "mark_step", None,
            {"step": "accept", "verdict": "skipped", "reason": "sales was absent"})
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.result("accept").status == "skipped" and graded.max_score == 85
    assert "sales was absent" in graded.result("accept").reason_text


# ---- the plan: no dead end after a deviation ------------------------------------------------

def test_after_a_second_shortage_is_needed_the_plan_names_it_and_bots_finish(app):
    run, user = seated("b2c-out-of-stock", "supplier")
    run = bots_until(run, "shortage")
    as_student(run, user, "supplier", "forward_shortage", doc(run, "order"), qty=20)
    run = bots_until(run, "ship")
    perform(run.id, Actor("instructor", "instructor"), "inject_stock_loss", None,
            {"sku": "TEA-250", "qty": 5})
    planned = plan(db.session.get(Run, run.id))
    assert [(m.action, m.role, m.gap, m.bot) for m in planned.moves if m.step.id == "ship"] == [
        ("forward_shortage", "supplier", True, False)]  # the student's move, not in the script
    headless.drive(run)
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.completed and graded.score == 90


def test_lab_check_warns_when_a_bot_step_cannot_meet_its_check(app):
    text = (SCENARIOS / "b2c-return.yaml").read_text(encoding="utf-8").replace(
        "with: {lines: [{sku: CUP-01, qty: 3}], payment: bank_transfer}",
        "with: {lines: [{sku: CUP-01, qty: 3}], payment: bank_transfer}\n    check: {qty: 2}")
    scenario, problems = validate(text)
    assert scenario is not None
    assert any(p.warning and p.field == "check.qty" for p in problems), problems


# ---- lab play ---------------------------------------------------------------------------------

def test_lab_play_reports_each_move_and_every_point_lost(app, tmp_path):
    moves = tmp_path / "moves.yaml"
    moves.write_text(yaml.safe_dump([
        {"at": "accept", "as": "instructor", "action": "inject_stock_loss",
         "with": {"sku": "TEA-250", "qty": 10}},
        {"at": "shortage", "as": "supplier", "action": "forward_shortage", "with": {"qty": 500}},
        {"at": "shortage", "as": "supplier", "action": "forward_shortage", "with": {"qty": 30}},
    ]))
    result = app.test_cli_runner().invoke(args=[
        "lab", "play", str(SCENARIOS / "b2c-out-of-stock.yaml"), str(moves), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [(m["as"], m["accepted"]) for m in out["moves"]] == [
        ("instructor", True), ("supplier", False), ("supplier", True)]
    assert "should be 30, not 500" in out["moves"][1]["message"]
    assert out["completed"] and out["score"] == 89
    assert [(m["points"], m["reason"]) for m in out["mistakes"]] == [
        (1, out["moves"][1]["message"])]


def test_lab_play_refuses_a_bad_moves_file_with_every_problem(app, tmp_path):
    moves = tmp_path / "moves.yaml"
    moves.write_text("- {at: nowhere, as: cook, action: fly}\n")
    result = app.test_cli_runner().invoke(args=[
        "lab", "play", str(SCENARIOS / "b2c-normal.yaml"), str(moves)])
    assert result.exit_code == 2
    for word in ("no step 'nowhere'", "must be a role", "unknown action 'fly'"):
        assert word in result.output
