"""One student cannot zero the group's grade: what refused attempts can cost is capped per
student and step and per student in the run (lab/grading.py), the cap is shown where the points
are explained, and a seat that floods the lab with actions is answered 429 at the door
(roles/common.py), which costs nothing."""
from datetime import datetime, timedelta

import pytest

from lab.extensions import db
from lab.grading import EventView, grade
from lab.headless import drive
from lab.models import Event, Run
from lab.runs import grade_run
from lab.scenario import load, validate
from tests.helpers import doc, login, make_user, post, start_run

EN = {"Accept-Language": "en"}
T0 = datetime(2026, 11, 23, 9, 0, 0)

SCENARIO_TEXT = """
format: 1
id: caps
title: Caps
mode: b2c
roles: [buyer, supplier, warehouse]
world:
  company: {name: C}
  buyer: {name: B}
  vendors: [{key: v, name: V}]
  products: [{sku: A1, name: A, price: 10, stock: 5, vendor: v}]
script:
  - {id: order, role: buyer, action: place_order, points: 10}
  - {id: accept, role: supplier, action: accept_order, points: 10}
  - {id: pay, role: buyer, action: pay_order, points: 10}
  - {id: ship, role: warehouse, action: ship_order, points: 10}
scoring: {mistake_penalty: 1%s}
"""
SCENARIO = load(SCENARIO_TEXT % "")


def ev(n, action, role, ok=True, user=None):
    return EventView(id=n, action=action, role=role, at=T0 + timedelta(seconds=n), ok=ok,
                     case_id=1, user_id=user, actor="student")


def flood(start, count, action, role, user):
    return [ev(start + i, action, role, ok=False, user=user) for i in range(count)]


def test_400_refused_clicks_at_one_step_cost_at_most_three_points():
    met = [ev(1, "place_order", "buyer", user=7), ev(2, "accept_order", "supplier", user=8)]
    g = grade(SCENARIO, met + flood(10, 400, "ship_order", "warehouse", user=9))
    assert len(g.mistakes) == 400  # every attempt is on the record …
    assert g.penalty == 3 and g.score == 17  # … but only three cost a point: 20 − 3
    assert g.per_user[9] == {"points": -3, "steps": [], "mistakes": 400, "not_counted": 397,
                             "missed": []}
    [cap] = g.capped
    assert (cap.user_id, cap.step_id, cap.count, cap.limit) == (9, "ship", 397, 3)
    assert [loss.kind for loss in g.losses].count("mistake") == 3


def test_refusals_spread_over_steps_stop_counting_at_the_students_ceiling():
    met = [ev(1, "place_order", "buyer", user=7)]
    attempts = (flood(10, 3, "accept_order", "buyer", user=7)      # an action not of the role
                + flood(20, 3, "pay_order", "buyer", user=7)      # pay before it is accepted
                + flood(30, 3, "confirm_receipt", "buyer", user=7)  # no step: its own bucket
                + flood(40, 3, "cancel_order", "buyer", user=7)
                + flood(50, 3, "post_notice", "buyer", user=7))
    g = grade(SCENARIO, met + attempts)
    assert len(g.mistakes) == 15 and g.penalty == 10  # the ceiling: 10 per student
    assert g.per_user[7]["points"] == 10 - 10 and g.per_user[7]["not_counted"] == 5
    ceiling = next(c for c in g.capped if c.step_id is None and c.action is None)
    assert ceiling.count == 5 and ceiling.limit == 10


def test_each_student_has_their_own_cap_and_other_students_still_count():
    met = [ev(1, "place_order", "buyer", user=7)]
    g = grade(SCENARIO, met + flood(10, 50, "ship_order", "warehouse", user=9)
              + flood(100, 2, "ship_order", "warehouse", user=10))
    assert g.penalty == 3 + 2
    assert {c.user_id: c.count for c in g.capped} == {9: 47}


def test_a_scenario_may_set_its_own_caps():
    strict = load(SCENARIO_TEXT % ", max_mistakes_per_step: 1, max_mistakes_per_student: 2")
    g = grade(strict, [ev(1, "place_order", "buyer", user=7)]
              + flood(10, 5, "ship_order", "warehouse", user=9)
              + flood(20, 5, "accept_order", "warehouse", user=9)
              + flood(30, 5, "pay_order", "warehouse", user=9))
    assert g.penalty == 2  # one at "ship", one at "accept", then the ceiling of 2
    lenient = load(SCENARIO_TEXT % ", max_mistakes_per_step: 50")
    assert grade(lenient, flood(10, 20, "ship_order", "warehouse", user=9)).penalty == 10


@pytest.mark.parametrize("value", ["-1", "1.5", "many", ".inf"])
def test_a_bad_cap_in_a_scenario_is_refused_with_its_field(value):
    scenario, problems = validate(SCENARIO_TEXT % f", max_mistakes_per_step: {value}")
    assert scenario is None
    assert any("max_mistakes_per_step" in str(p) for p in problems)


def test_the_grade_json_tells_what_was_not_counted(app, english):
    g = grade(SCENARIO, [ev(1, "place_order", "buyer", user=7)]
              + flood(10, 5, "ship_order", "warehouse", user=9))
    [entry] = g.to_json()["capped"]
    assert entry["not_counted"] == 2 and entry["limit"] == 3 and entry["step"] == "ship"
    assert entry["reason"] == ("Refused attempts not counted at step 4 “Ship”: 2 (at most 3 "
                               "count per student and step).")


# ---- through the pages: the flood, the door and the breakdown ---------------------------------

@pytest.fixture
def group(app, monkeypatch):
    """Ann (buyer) and Bo (warehouse) in a b2c-normal run; bots play the rest. The door's
    window starts when the test does, however slowly the machine runs it."""
    import roles.common
    from lab.models.base import utcnow
    start = utcnow()
    monkeypatch.setattr(roles.common, "utcnow", lambda: start, raising=False)
    ann, bo = make_user("ann"), make_user("bo")
    run = start_run("b2c-normal", seats={"buyer": [ann.id], "warehouse": [bo.id]})
    return run, ann, bo, login(app.test_client(), "ann"), login(app.test_client(), "bo")


def test_a_flood_of_refused_clicks_costs_the_group_three_points(app, group):
    """The audit: 400 refused clicks took a group from 28 to 0. Now Bo's flood (each click a
    new form) is stopped at the door after 20 actions in 10 seconds, and of what got in only
    three cost a point."""
    run, ann, bo, ann_client, bo_client = group
    post(ann_client, f"/run/{run.id}/buyer/act/place_order",
         {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": "ann-order"})
    drive(db.session.get(Run, run.id), until="pay")  # the bot accepts: 20 points
    before = grade_run(run).score
    assert before == 20
    answers = []
    for i in range(40):
        r = post(bo_client, f"/run/{run.id}/warehouse/act/ship_order",
                 {"doc": doc(run, "order").id, "request_key": f"flood-click-{i:04d}"},
                 headers={**EN, "Accept": "application/json"})
        answers.append(r.status_code)
    assert set(answers) <= {409, 429} and 429 in answers and 500 not in answers
    refused = db.session.query(Event).filter_by(run_id=run.id, ok=False).count()
    assert refused == 20  # the door let 20 in (10 s window), the rest cost nothing
    graded = grade_run(run)
    assert graded.score == before - 3
    assert graded.per_user[bo.id]["not_counted"] == 17


def test_the_door_answers_429_politely_and_only_for_that_seat(app, group):
    run, ann, bo, ann_client, bo_client = group
    app.config["SEAT_ACTIONS_PER_WINDOW"] = 3
    order_url = f"/run/{run.id}/buyer/act/place_order"
    for i in range(3):  # three refused orders (no such product): three events
        post(ann_client, order_url, {"sku": "NOPE", "qty": "1", "payment": "bank_transfer",
                                     "request_key": f"nope-order-{i}"})
    events = db.session.query(Event).count()
    r = post(ann_client, order_url, {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer",
                                     "request_key": "good-order-1"}, headers=EN)
    assert r.status_code == 429 and r.headers["Retry-After"] == "10"
    assert "Too many actions from this seat" in r.get_data(as_text=True)
    assert "costs you nothing" in r.get_data(as_text=True)
    j = post(ann_client, order_url, {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer",
                                     "request_key": "good-order-2"},
             headers={**EN, "Accept": "application/json"})
    assert j.status_code == 429 and j.get_json()["ok"] is False
    assert db.session.query(Event).count() == events  # nothing performed, nothing recorded
    # Bo's seat is not Ann's: he still gets through.
    r = post(bo_client, f"/run/{run.id}/warehouse/act/ship_order", {"doc": "1"},
             headers={**EN, "Accept": "application/json"})
    assert r.status_code != 429
    # Reading pages is never limited.
    assert ann_client.get(f"/run/{run.id}/buyer/").status_code == 200


def test_the_lab_report_and_grade_sheet_show_what_the_cap_left_out(app, group):
    from lab.models import Classroom, Group
    from lab.classroom import work
    from lab.scenario import load_file
    from tests.helpers import SCENARIOS
    run, ann, bo, ann_client, bo_client = group
    teacher = make_user("zhou", is_instructor=True)
    classroom = Classroom(name="一班", instructor_id=teacher.id, join_code="CAPS01")
    db.session.add(classroom)
    db.session.flush()
    db.session.add(Group(classroom_id=classroom.id, number=1,
                         roles={"buyer": ann.id, "warehouse": bo.id}))
    db.session.commit()
    assignment = work.assign(classroom, load_file(SCENARIOS / "b2c-normal.yaml"),
                             classroom.groups, teacher.id)
    class_run = db.session.scalars(db.select(Run).where(
        Run.assignment_id == assignment.id)).one()
    from lab.runs import start
    start(class_run)
    db.session.commit()
    for i in range(6):
        post(bo_client, f"/run/{class_run.id}/warehouse/act/ship_order",
             {"doc": "999", "request_key": f"wall-{i:04d}"})
    report = bo_client.get(f"/classroom/run/{class_run.id}/report/{bo.id}", headers=EN)
    text = report.get_data(as_text=True)
    assert "not counted" in text and "at most 3 count per student and step" in text
    teacher_client = login(app.test_client(), "zhou")
    sheet = teacher_client.get(f"/classroom/assignment/{assignment.id}/grades", headers=EN)
    assert "3 not counted (cap)" in sheet.get_data(as_text=True)
