"""Live control of a class's runs: start, pause, resume and stop are events of each run's log,
open consoles learn of them at their next poll, a click on a run that is not running is a
message (never a mistake), the replay shows the clock, and "Stop all" asks first."""
import pytest

from lab.engine import Actor, perform
from lab.errors import NotAllowed
from lab.extensions import db
from lab.models import Classroom, Event, Group, Run
from lab.runs import CLOCK_ACTIONS, grade_run
from lab.scenario import load_file
from tests.helpers import SCENARIOS, doc, login, make_user, post

EN = {"Accept-Language": "en"}


@pytest.fixture
def lesson(app):
    """周老师's class: two groups (a buyer and a sales student each; bots play the rest), one
    b2c-normal assignment, started from the board."""
    teacher = make_user("zhou", name="周老师", is_instructor=True)
    classroom = Classroom(name="电商一班", instructor_id=teacher.id, join_code="LIVE01")
    db.session.add(classroom)
    db.session.flush()
    students = {}
    for number in (1, 2):
        buyer, sales = make_user(f"buyer{number}"), make_user(f"sales{number}")
        db.session.add(Group(classroom_id=classroom.id, number=number,
                             roles={"buyer": buyer.id, "supplier": sales.id}))
        students[number] = {"buyer": buyer, "supplier": sales}
    db.session.commit()
    from lab.classroom import work
    assignment = work.assign(classroom, load_file(SCENARIOS / "b2c-normal.yaml"),
                             classroom.groups, teacher.id)
    client = app.test_client()
    login(client, "zhou")
    runs = db.session.scalars(db.select(Run).order_by(Run.id)).all()
    first = app.test_client()
    login(first, "buyer1")
    return {"teacher": teacher, "client": client, "assignment": assignment.id, "runs": runs,
            "students": students, "buyer": first}


def clock(lesson, op, run=None, **extra):
    data = {"op": op, **extra}
    if run is not None:
        data["run"] = str(run.id)
    return post(lesson["client"], f"/classroom/assignment/{lesson['assignment']}/clock", data,
                headers=EN)


def fresh(run) -> Run:
    db.session.expire_all()
    return db.session.get(Run, run.id)


def poll(client, run, since=0):
    return client.get(f"/live/{run.id}?since={since}").get_json()


def console(client, run, role="buyer"):
    return client.get(f"/run/{run.id}/{role}/", headers=EN).get_data(as_text=True)


def clock_events(run):
    return db.session.scalars(db.select(Event).where(
        Event.run_id == run.id, Event.action.in_(CLOCK_ACTIONS)).order_by(Event.id)).all()


def test_start_pause_resume_and_stop_are_events_of_each_run(lesson):
    run = lesson["runs"][0]
    assert clock(lesson, "start").status_code == 302
    assert clock(lesson, "pause", run).status_code == 302
    assert clock(lesson, "resume", run).status_code == 302
    assert clock(lesson, "stop", run).status_code == 302
    events = clock_events(run)
    assert [e.action for e in events] == ["start_run", "pause_run", "resume_run", "finish_run"]
    assert all((e.actor, e.role, e.user_id, e.ok, e.params, e.result)
               == ("instructor", "instructor", lesson["teacher"].id, True, {}, {})
               for e in events)
    assert fresh(run).last_event_id == events[-1].id and fresh(run).status == "finished"
    other = lesson["runs"][1]  # "Start all" started it; the per-group buttons left it alone
    assert [e.action for e in clock_events(other)] == ["start_run"]
    assert fresh(other).last_event_id == clock_events(other)[0].id


def test_stopping_a_paused_run_records_the_stop_only(lesson):
    run = lesson["runs"][0]
    clock(lesson, "start", run)
    clock(lesson, "pause", run)
    clock(lesson, "stop", run)
    assert [e.action for e in clock_events(run)] == ["start_run", "pause_run", "finish_run"]
    assert fresh(run).paused_at is None and fresh(run).paused_seconds >= 0


def test_the_poll_carries_the_status_and_the_seconds_left(lesson):
    run, buyer = lesson["runs"][0], lesson["buyer"]
    before = poll(buyer, run)
    assert before["status"] == "ready" and before["left"] == 30 * 60  # the whole limit
    clock(lesson, "start")
    running = poll(buyer, run, before["last"])
    assert running["status"] == "running" and running["changed"] is True
    assert 30 * 60 - 5 <= running["left"] <= 30 * 60
    clock(lesson, "pause")
    paused = poll(buyer, run, running["last"])
    assert paused["status"] == "paused" and paused["changed"] is True
    assert paused["last"] == clock_events(run)[-1].id
    assert poll(buyer, run, paused["last"])["left"] == paused["left"]  # the clock stands still
    clock(lesson, "resume")
    resumed = poll(buyer, run, paused["last"])
    assert resumed["status"] == "running" and resumed["changed"] is True
    assert abs(resumed["left"] - paused["left"]) <= 2


def test_a_paused_console_shows_the_banner_and_disables_its_buttons(lesson):
    run, buyer = lesson["runs"][0], lesson["buyer"]
    clock(lesson, "start")
    page = console(buyer, run)
    assert 'id="console-actions" >' in page or 'id="console-actions">' in page
    assert 'id="run-banner"' in page and 'data-live-status="running"' in page
    assert "Add to cart" in page
    clock(lesson, "pause")
    page = console(buyer, run)
    assert 'id="console-actions" disabled' in page and 'data-live-status="paused"' in page
    banner = page.split('id="run-banner"')[1].split("</div>")[0]
    assert " hidden>" not in banner
    assert "Paused by the instructor: nothing can be done until the run resumes." in banner
    assert "data-countdown-stopped" in page
    clock(lesson, "resume")
    page = console(buyer, run)  # the buttons are back
    assert 'id="console-actions" disabled' not in page and "data-countdown-stopped" not in page
    assert page.split('id="run-banner"')[1].split(">")[0].rstrip().endswith("hidden")
    clock(lesson, "stop", run)
    assert "This run has ended: nothing more can be done in it." in console(buyer, run)


def test_a_click_on_a_paused_run_is_a_message_and_costs_nothing(lesson):
    run, buyer = lesson["runs"][0], lesson["buyer"]
    clock(lesson, "start")
    post(buyer, f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    clock(lesson, "pause")
    last = fresh(run).last_event_id
    r = post(buyer, f"/run/{run.id}/buyer/act/place_order",
             {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer",
              "request_key": "paused-form-01"}, headers=EN)
    assert r.status_code == 303 and r.headers["Location"] == f"/run/{run.id}/buyer/"
    page = console(buyer, run)
    assert "alert-warning" in page and 'id="action-error"' not in page
    assert "Paused by the instructor: nothing can be done until the run resumes." in page
    for url, data in ((f"/run/{run.id}/buyer/checkout", {"payment": "bank_transfer"}),
                      (f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "1"}),
                      (f"/run/{run.id}/buyer/certificate", {"password": "a", "password2": "a"})):
        assert post(buyer, url, data, headers=EN).status_code == 303, url
    asked = post(buyer, f"/run/{run.id}/buyer/act/place_order",
                 {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer"},
                 headers={**EN, "Accept": "application/json"})
    assert asked.status_code == 409 and asked.get_json()["status"] == "paused"
    assert db.session.query(Event).filter_by(ok=False).count() == 0  # no mistake recorded
    assert fresh(run).last_event_id == last and db.session.query(Event).filter_by(
        run_id=run.id, action="place_order").count() == 0
    assert 'id="cart-total">¥176.00' in console(buyer, run)  # the cart is as it was
    graded = grade_run(fresh(run))
    assert graded.mistakes == [] and graded.score == 0
    clock(lesson, "resume")
    r = post(buyer, f"/run/{run.id}/buyer/checkout",
             {"payment": "bank_transfer", "request_key": "after-resume-1"})
    assert r.status_code == 302 and doc(run, "order").state == "placed"


def test_perform_on_a_paused_run_records_no_refusal(lesson):
    """The engine's side of it (lab/engine/core.py _record_refusal): a student's attempt on a
    paused or stopped run is refused without becoming a mistake, whoever calls perform()."""
    run = lesson["runs"][0]
    buyer = lesson["students"][1]["buyer"]
    clock(lesson, "start")
    clock(lesson, "pause")
    for status in ("paused", "finished"):
        with pytest.raises(NotAllowed):
            perform(run.id, Actor("buyer", "student", buyer.id), "place_order", None,
                    {"lines": [{"sku": "TEA-250", "qty": 2}], "payment": "bank_transfer"},
                    request_key=f"engine-{status}-1")
        assert db.session.query(Event).filter_by(ok=False).count() == 0, status
        clock(lesson, "stop")


def test_clock_events_are_neither_mistakes_nor_off_script(lesson, app):
    from lab.classroom import reports
    run = lesson["runs"][0]
    clock(lesson, "start")
    post(lesson["buyer"], f"/run/{run.id}/buyer/act/place_order",
         {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": "order-k1"})
    clock(lesson, "pause")
    clock(lesson, "resume")
    graded = grade_run(fresh(run))
    events = db.session.scalars(db.select(Event).where(Event.run_id == run.id)).all()
    clock_ids = {e.id for e in events if e.action in CLOCK_ACTIONS}
    assert len(clock_ids) == 3
    assert graded.mistakes == [] and graded.met_count == 1
    assert not clock_ids & {e.id for e in getattr(graded, "unscripted", [])}
    assert not clock_ids & reports.uncounted(graded, events)
    assert graded.per_user.get(lesson["teacher"].id) is None


def test_the_replay_shows_the_clock_as_readable_lines(lesson):
    run = lesson["runs"][0]
    clock(lesson, "start")
    clock(lesson, "pause", run)
    clock(lesson, "resume", run)
    clock(lesson, "stop", run)
    page = lesson["client"].get(f"/classroom/run/{run.id}/replay",
                                headers=EN).get_data(as_text=True)
    lines = [row.split("</tr>")[0] for row in page.split('class="replay-row replay-clock')[1:]]
    assert len(lines) == 4
    for line, text in zip(lines, ("Started by 周老师", "Paused by 周老师", "Resumed by 周老师",
                                  "Ended by 周老师"), strict=True):
        assert text in line
    assert "<th>Instructor</th>" not in page  # the clock is nobody's lane
    zh = lesson["client"].get(f"/classroom/run/{run.id}/replay",
                              headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "周老师" in zh


def test_stop_all_without_its_confirmation_changes_nothing(lesson):
    clock(lesson, "start")
    r = clock(lesson, "stop")
    assert r.status_code == 303
    page = lesson["client"].get(r.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Nothing was stopped" in page and 'id="stop-all-confirm"' in page
    assert {fresh(run).status for run in lesson["runs"]} == {"running"}
    assert all(a != "finish_run" for run in lesson["runs"]
               for a in (e.action for e in clock_events(run)))
    assert clock(lesson, "stop", confirm="no").status_code == 303
    assert {fresh(run).status for run in lesson["runs"]} == {"running"}
    # One group's own Stop needs no box; "Stop all" with the box ticked ends every run.
    assert clock(lesson, "stop", lesson["runs"][0]).status_code == 302
    assert fresh(lesson["runs"][0]).status == "finished"
    assert clock(lesson, "stop", confirm="yes").status_code == 302
    assert {fresh(run).status for run in lesson["runs"]} == {"finished"}


def test_the_board_asks_before_stopping_every_run(lesson):
    page = lesson["client"].get(f"/classroom/assignment/{lesson['assignment']}/board",
                                headers=EN).get_data(as_text=True)
    form = page.split('id="stop-all"')[1].split("</form>")[0]
    assert 'name="confirm" value="yes"' in form and "required" in form
    assert "Yes, end every group’s run" in form and ">Stop all</button>" in form
