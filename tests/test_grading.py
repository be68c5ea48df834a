"""Grading is a pure function of (scenario, events): tested with hand-built event logs."""
from datetime import datetime, timedelta

from lab.grading import EventView, grade
from lab.scenario import load

T0 = datetime(2026, 11, 23, 9, 0, 0)

SCENARIO = load("""
format: 1
id: g
title: Grading
mode: b2c
time_limit_minutes: 10
roles: [buyer, supplier, purchasing]
world:
  company: {name: C}
  buyer: {name: B}
  vendors: [{key: v, name: V}]
  products: [{sku: A1, name: A, price: 10, stock: 5, vendor: v}]
script:
  - {id: order, role: buyer, action: place_order,
     with: {lines: [{sku: A1, qty: 8}], payment: bank_transfer}, points: 5}
  - {id: accept, role: supplier, action: accept_order, points: 5}
  - {id: shortage, role: supplier, action: forward_shortage, check: {qty: 3}, points: 10}
  - {id: po, role: purchasing, action: create_purchase_order, check: {qty: ">=3"}, points: 10}
scoring: {mistake_penalty: 2, late_penalty_per_minute: 1}
""")


def ev(n, action, role, minute=0, ok=True, case=1, user=None, world=None, **result):
    return EventView(id=n, action=action, role=role, at=T0 + timedelta(minutes=minute), ok=ok,
                     case_id=case, user_id=user, actor="student", result=result, world=world)


def test_all_steps_in_order_earn_full_marks_per_student():
    events = [ev(1, "place_order", "buyer", 1, user=7), ev(2, "accept_order", "supplier", 2,
                                                           user=8),
              ev(3, "forward_shortage", "supplier", 3, user=8, qty=3),
              ev(4, "create_purchase_order", "purchasing", 4, user=9, qty=3)]
    g = grade(SCENARIO, events, started_at=T0)
    assert g.completed and g.score == 30 == g.max_score
    assert g.per_user[8]["points"] == 15 and g.per_user[8]["steps"] == ["accept", "shortage"]
    assert g.finished_at == T0 + timedelta(minutes=4)


def test_an_out_of_order_event_misses_its_step_with_the_step_that_comes_first():
    events = [ev(1, "place_order", "buyer"), ev(2, "forward_shortage", "supplier", qty=3),
              ev(3, "accept_order", "supplier"), ev(4, "forward_shortage", "supplier", qty=3)]
    g = grade(SCENARIO, events, started_at=T0)
    status = {s.id: (s.status, s.event.id if s.event else None) for s in g.steps}
    assert status == {"order": ("met", 1), "accept": ("met", 3), "shortage": ("missed", 2),
                      "po": ("pending", None)}
    reason = g.result("shortage").reason  # stored untranslated, shown in the reader's language
    assert reason["args"] == {"number": 2, "action": "accept_order", "role": "supplier"}
    assert reason["msg"].startswith("Out of order: step %(number)s")
    assert [e.id for e in g.unscripted] == [4]  # the second forwarding meets no step
    assert not g.completed and [s.id for s in g.next_steps()] == ["po"]
    assert [(loss.points, loss.step_id) for loss in g.losses] == [(10, "shortage"), (10, "po")]


def test_wrong_role_does_not_count():
    events = [ev(1, "place_order", "buyer"), ev(2, "accept_order", "buyer")]
    g = grade(SCENARIO, events, started_at=T0)
    assert not g.steps[1].met


def test_failed_check_does_not_meet_the_step():
    events = [ev(1, "place_order", "buyer"), ev(2, "accept_order", "supplier"),
              ev(3, "forward_shortage", "supplier", qty=2),
              ev(4, "create_purchase_order", "purchasing", qty=2)]
    g = grade(SCENARIO, events, started_at=T0)
    assert [s.met for s in g.steps] == [True, True, False, False]
    assert g.score == 10


def test_double_events_meet_a_step_once():
    events = [ev(1, "place_order", "buyer"), ev(2, "accept_order", "supplier"),
              ev(3, "accept_order", "supplier")]
    g = grade(SCENARIO, events, started_at=T0)
    assert g.steps[1].event.id == 2 and g.score == 10


def test_event_of_another_case_does_not_count():
    events = [ev(1, "place_order", "buyer", case=1), ev(2, "accept_order", "supplier", case=2)]
    g = grade(SCENARIO, events, started_at=T0)
    assert not g.steps[1].met


def test_refused_attempts_cost_points_and_are_listed():
    events = [ev(1, "place_order", "buyer"), ev(2, "ship_order", "warehouse", ok=False, user=5),
              ev(3, "accept_order", "supplier", ok=False, user=8)]
    g = grade(SCENARIO, events, started_at=T0)
    assert len(g.mistakes) == 2 and g.penalty == 4 and g.score == 1
    assert g.per_user[8]["mistakes"] == 1


def test_late_finish_costs_per_started_minute():
    events = [ev(1, "place_order", "buyer", 1), ev(2, "accept_order", "supplier", 2),
              ev(3, "forward_shortage", "supplier", 3, qty=3),
              ev(4, "create_purchase_order", "purchasing", 12.5, qty=3)]
    g = grade(SCENARIO, events, started_at=T0)
    assert g.completed and round(g.late_minutes, 1) == 2.5 and g.penalty == 3 and g.score == 27


def test_score_never_below_zero():
    events = [ev(i, "ship_order", "warehouse", ok=False) for i in range(1, 30)]
    assert grade(SCENARIO, events, started_at=T0).score == 0


def test_regrading_is_reproducible():
    events = [ev(1, "place_order", "buyer"), ev(2, "accept_order", "supplier")]
    assert grade(SCENARIO, events, T0).to_json() == grade(SCENARIO, list(reversed(events)),
                                                          T0).to_json()


def test_out_of_stock_grades_the_shortage_whether_forwarded_before_or_after_accepting():
    from pathlib import Path
    from lab.scenario import load_file
    scenario = load_file(Path(__file__).resolve().parent.parent / "scenarios" /
                         "b2c-out-of-stock.yaml")
    events = [ev(1, "place_order", "buyer", qty=120),
              ev(2, "forward_shortage", "supplier", qty=20, world={"shortfall": 20}),
              ev(3, "accept_order", "supplier"),
              ev(4, "create_purchase_order", "purchasing", qty=20, world={"shortage": 20})]
    g = grade(scenario, events, started_at=T0)
    assert [s.id for s in g.steps if s.met] == ["order", "accept", "shortage", "po"]
