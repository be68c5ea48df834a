"""Repairs for instructors, through HTTP as the instructor sees them: marking a step of one
group's run done or skipped from the board (graded, audited, in the replay, once per form, the
owning instructor only) and the board flagging a stalled group with what the guide says it
waits for."""
import io
import re
from datetime import timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import event as sa_event

from lab.extensions import db
from lab.models import Classroom, Enrollment, Event, Run, Seat, User
from lab.runs import grade_run
from tests.helpers import doc, login, make_user, play, post

EN = {"Accept-Language": "en"}


def roster(n):
    book = Workbook()
    book.active.append(["学号", "姓名"])
    for i in range(1, n + 1):
        book.active.append([f"2026{i:04d}", f"学生{i}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def lesson(app):
    """Two groups of five (every role held by a student: no bots) running b2c-normal."""
    make_user("teacher", name="Teacher Zhou", is_instructor=True)
    client = app.test_client()
    login(client, "teacher")
    post(client, "/classroom/new", {"name": "电商一班"})
    classroom = db.session.scalar(db.select(Classroom))
    post(client, f"/classroom/{classroom.id}/roster",
         {"roster": (io.BytesIO(roster(10)), "roster.xlsx")}, content_type="multipart/form-data")
    post(client, f"/classroom/{classroom.id}/groups", {"size": "5"})
    post(client, f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal"})
    assignment_id = db.session.scalar(db.select(Run.assignment_id))
    post(client, f"/classroom/assignment/{assignment_id}/clock", {"op": "start"})
    runs = db.session.scalars(db.select(Run).order_by(Run.id)).all()
    assert len(runs) == 2 and {r.status for r in runs} == {"running"}
    return {"client": client, "assignment": assignment_id, "runs": runs, "app": app,
            "classroom": classroom}


def page(client, url) -> str:
    response = client.get(url, headers=EN)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def board(lesson) -> str:
    return page(lesson["client"], f"/classroom/assignment/{lesson['assignment']}/board?fragment=1")


def row_of(html: str, run) -> str:
    match = re.search(rf'<tr[^>]*data-run="{run.id}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row for run {run.id}"
    return match.group(0)


def flag_of(html: str, run) -> str | None:
    match = re.search(rf'<tr[^>]*data-flag-run="{run.id}"[^>]*>(.*?)</tr>', html, re.S)
    return match.group(0) if match else None


def repair_form(client, run) -> dict:
    """The mark form of the group's repair page, as the instructor's browser would send it."""
    html = page(client, f"/classroom/run/{run.id}/repair")
    form = html.split('id="mark-form"')[1].split("</form>")[0]
    key = re.search(r'name="request_key" value="([^"]+)"', form).group(1)
    steps = re.findall(r'<option value="([^"]+)"', form)
    return {"request_key": key, "steps": steps, "html": html}


def mark(lesson, run, step, verdict, reason, key=None):
    """Send the group's mark form (a fresh one: its own key, unless given)."""
    key = key or repair_form(lesson["client"], run)["request_key"]
    return post(lesson["client"], f"/classroom/run/{run.id}/mark",
                {"step": step, "verdict": verdict, "reason": reason, "request_key": key},
                headers=EN)


def marks() -> list[Event]:
    return db.session.scalars(db.select(Event).where(Event.action == "mark_step")
                              .order_by(Event.id)).all()


def student(lesson, run, role):
    seat = db.session.scalar(db.select(Seat).where(Seat.run_id == run.id, Seat.role == role))
    user = db.session.get(User, seat.user_id)
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == user.id))
    client = lesson["app"].test_client()
    login(client, user.username, password)
    return client, user


# ---- marking a step -------------------------------------------------------------------------

def test_a_step_marked_skipped_from_the_board_leaves_the_maximum_and_shows_in_the_replay(lesson):
    client, run = lesson["client"], lesson["runs"][0]
    play(run, until="accept")
    before = grade_run(db.session.get(Run, run.id))
    assert f'href="/classroom/run/{run.id}/repair"' in row_of(board(lesson), run)
    form = repair_form(client, run)
    assert form["steps"] == ["accept", "pay", "confirm-payment", "ship", "deliver", "receipt"]
    assert '<option value="accept" selected>' in form["html"]  # the step expected now

    response = mark(lesson, run, "accept", "skipped", "sales was absent")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/classroom/assignment/{lesson['assignment']}/board#run-{run.id}")
    shown = text_of(page(client, response.headers["Location"].split("#")[0]))
    assert "Step 2 “Accept order” marked skipped for group 1: sales was absent" in shown

    graded = grade_run(db.session.get(Run, run.id))
    assert graded.result("accept").status == "skipped"
    assert graded.max_score == before.max_score - 10 and graded.score == before.score
    assert f"{graded.score}/{graded.max_score}" in text_of(row_of(board(lesson), run))
    steps = page(client, f"/classroom/run/{run.id}/repair").split('id="repair-steps"')[1]
    assert "Marked skipped by the instructor: sales was absent" in steps
    assert "accept" not in repair_form(client, run)["steps"]  # no longer offered to mark

    (event,) = marks()  # audited: one event of the run, by this instructor
    teacher = db.session.scalar(db.select(User).where(User.username == "teacher"))
    assert event.run_id == run.id and event.actor == "instructor" and event.ok
    assert event.user_id == teacher.id
    assert event.params == {"step": "accept", "verdict": "skipped", "reason": "sales was absent"}
    replay = page(client, f"/classroom/run/{run.id}/replay")
    line = re.search(r'<tr class="replay-row replay-mark[^"]*"[^>]*>(.*?)</tr>', replay, re.S)
    assert line and 'data-mark="skipped"' in line.group(0)
    assert "Teacher Zhou marked step 2 “Accept order” skipped: sales was absent" in \
        text_of(line.group(0))
    # the mark is nobody's move: no instructor lane for it
    assert "<th>Instructor</th>" not in replay.split("</thead>")[0]
    # the group goes on from the next step
    assert grade_run(db.session.get(Run, run.id)).next_steps()[0].id == "pay"


def test_a_step_marked_done_earns_its_points(lesson):
    run = lesson["runs"][0]
    play(run, until="accept")
    before = grade_run(db.session.get(Run, run.id))
    response = mark(lesson, run, "accept", "done", "accepted by phone")
    assert response.status_code == 302
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.result("accept").met and graded.result("accept").points == 10
    assert graded.score == before.score + 10 and graded.max_score == before.max_score
    replay = text_of(page(lesson["client"], f"/classroom/run/{run.id}/replay"))
    assert "Teacher Zhou marked step 2 “Accept order” done: accepted by phone" in replay


def test_the_same_form_sent_twice_marks_once(lesson):
    client, run = lesson["client"], lesson["runs"][0]
    play(run, until="accept")
    key = repair_form(client, run)["request_key"]
    first = mark(lesson, run, "accept", "skipped", "absent", key=key)
    again = mark(lesson, run, "accept", "skipped", "absent", key=key)
    assert first.status_code == again.status_code == 302
    assert len(marks()) == 1
    shown = text_of(page(client, f"/classroom/assignment/{lesson['assignment']}/board"))
    assert "Already done: this form was sent before." in shown
    assert "Nothing was marked" not in shown


def test_a_refused_mark_says_why_and_changes_nothing(lesson):
    client, run = lesson["client"], lesson["runs"][0]
    play(run, until="accept")
    before = grade_run(db.session.get(Run, run.id)).to_json()
    for step, why in (("order", "Step 1 is already resolved."),
                      ("nope", "There is no step nope in this scenario.")):
        response = mark(lesson, run, step, "done", "try")
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"/classroom/run/{run.id}/repair")
        shown = text_of(page(client, f"/classroom/run/{run.id}/repair"))
        assert f"Nothing was marked for group 1: {why}" in shown
    response = mark(lesson, run, "accept", "skipped", "   ")  # a reason is required
    assert response.status_code == 303
    assert "Please fill in Reason" in text_of(page(client, f"/classroom/run/{run.id}/repair"))
    assert marks() == []
    after = grade_run(db.session.get(Run, run.id))
    assert after.to_json() == before and after.mistakes == []  # no mistake of the group


def test_a_paused_run_is_not_marked(lesson):
    client, run = lesson["client"], lesson["runs"][0]
    post(client, f"/classroom/assignment/{lesson['assignment']}/clock",
         {"op": "pause", "run": str(run.id)})
    html = page(client, f"/classroom/run/{run.id}/repair")
    assert "steps can be marked while it runs" in html
    response = mark(lesson, run, "order", "skipped", "absent")
    assert response.status_code == 303 and marks() == []


def test_only_the_owning_instructor_marks(lesson):
    run = lesson["runs"][0]
    app = lesson["app"]
    make_user("teacher2", is_instructor=True)
    other = app.test_client()
    login(other, "teacher2")
    data = {"step": "order", "verdict": "skipped", "reason": "x"}
    assert other.get(f"/classroom/run/{run.id}/repair").status_code == 404
    assert post(other, f"/classroom/run/{run.id}/mark", data).status_code == 404
    buyer, _user = student(lesson, run, "buyer")
    assert buyer.get(f"/classroom/run/{run.id}/repair").status_code == 403
    assert post(buyer, f"/classroom/run/{run.id}/mark", data).status_code == 403
    from tests.helpers import start_run
    practice = start_run("b2c-normal", owner_id=db.session.scalar(
        db.select(User.id).where(User.username == "teacher")))  # not a class run
    assert post(lesson["client"], f"/classroom/run/{practice.id}/mark", data).status_code == 404
    assert marks() == []


# ---- the board flags stalled groups ------------------------------------------------------------

def backdate(run, minutes):
    """The run started, and its events happened, `minutes` earlier."""
    shift = timedelta(minutes=minutes)
    for event in db.session.scalars(db.select(Event).where(Event.run_id == run.id)):
        event.at -= shift
    run = db.session.get(Run, run.id)
    run.started_at -= shift
    db.session.commit()


def test_a_group_without_progress_is_flagged_with_what_the_guide_says(lesson):
    app, (stalled, busy) = lesson["app"], lesson["runs"]
    app.config["STALL_MINUTES"] = 3
    play(stalled, until="accept")
    backdate(stalled, 10)
    html = board(lesson)
    assert flag_of(html, busy) is None
    flag = flag_of(html, stalled)
    assert flag and 'data-flag="stalled"' in flag
    sales = db.session.get(User, db.session.scalar(db.select(Seat.user_id).where(
        Seat.run_id == stalled.id, Seat.role == "supplier")))
    assert "Group 1: no progress for 10 minutes." in text_of(flag)
    assert f"step 2 Accept order · Sales department ({sales.display_name}): can be done now" \
        in text_of(flag)
    assert "⚠" in row_of(html, stalled) and "⚠" not in row_of(html, busy)
    # what the run waits for: "first …" when the world needs something else first
    app.config["STALL_MINUTES"] = 100
    assert flag_of(board(lesson), stalled) is None  # the setting decides


def test_the_flag_names_what_must_come_first(lesson):
    """The payment step marked skipped: confirming it needs the money first, a move of the
    buyer the guide names ("first")."""
    app, run = lesson["app"], lesson["runs"][0]
    app.config["STALL_MINUTES"] = 3
    play(run, until="pay")
    assert mark(lesson, run, "pay", "skipped", "bank closed").status_code == 302
    backdate(run, 6)
    flag = text_of(flag_of(board(lesson), run) or "")
    buyer = db.session.get(User, db.session.scalar(db.select(Seat.user_id).where(
        Seat.run_id == run.id, Seat.role == "buyer")))
    assert "step 4 Confirm payment" in flag
    assert f"First: Buyer ({buyer.display_name}) — Pay SO-0001" in flag


def hit_the_wall(lesson, run) -> list[Event]:
    """The warehouse tries to ship before the order is accepted and paid: refused 3 times."""
    play(run, until="accept")
    order = doc(run, "order")
    warehouse, _user = student(lesson, run, "warehouse")
    for i in range(3):
        post(warehouse, f"/run/{run.id}/warehouse/act/ship_order",
             {"doc": order.id, "request_key": f"wall-{run.id}-attempt-{i}"})
    refused = db.session.scalars(db.select(Event).where(Event.run_id == run.id,
                                                        Event.ok.is_(False))).all()
    assert [e.action for e in refused] == ["ship_order"] * 3
    return refused


def test_students_clicking_into_the_same_wall_are_flagged(lesson):
    run, other = lesson["runs"]
    refused = hit_the_wall(lesson, run)
    html = board(lesson)
    flag = flag_of(html, run)
    assert flag and 'data-flag="wall"' in flag and flag_of(html, other) is None
    shown = text_of(flag)
    assert "Group 1: refused 3 times in a row: “Ship”." in shown
    assert render_last(refused) in shown  # what the students were told
    assert "step 2 Accept order · Sales department" in shown and "can be done now" in shown
    assert "no progress" not in shown  # they are busy, just stuck
    # the step they waited for is done: still flagged, the wall (shipping) is still there
    supplier, _user = student(lesson, run, "supplier")
    post(supplier, f"/run/{run.id}/supplier/act/accept_order", {"doc": doc(run, "order").id})
    assert grade_run(db.session.get(Run, run.id)).result("accept").met
    assert flag_of(board(lesson), run) is not None
    play(run, until="deliver")  # shipped at last: the wall is passed
    assert flag_of(board(lesson), run) is None


def test_an_instructor_s_repair_answers_the_refusals_before_it(lesson):
    run = lesson["runs"][1]
    hit_the_wall(lesson, run)
    assert flag_of(board(lesson), run) is not None
    assert mark(lesson, run, "accept", "done", "accepted by phone").status_code == 302
    assert flag_of(board(lesson), run) is None


def render_last(refused) -> str:
    from flask_babel import force_locale

    from lab.errors import render
    with force_locale("en"):
        return render(refused[-1].error)


@pytest.fixture
def stuck(monkeypatch):
    """The plan finds nothing to do and nothing waiting: what must never happen."""
    from lab.classroom import repair
    from lab.plan import Plan
    real = repair.plan

    def plan(run, graded=None):
        planned = real(run, graded)
        return Plan(planned.graded, blocked=[(s, None) for s in planned.graded.next_steps()])
    monkeypatch.setattr(repair, "plan", plan)
    monkeypatch.setattr(Plan, "passed_over", lambda self: [])  # not even a pass-over


def test_a_stalled_dead_end_is_flagged_loudly(lesson, stuck):
    app, (run, other) = lesson["app"], lesson["runs"]
    app.config["STALL_MINUTES"] = 1
    backdate(run, 2)
    html = board(lesson)
    flag = flag_of(html, run)
    assert flag and 'data-flag="dead-end"' in flag and "table-danger" in flag
    assert "Dead end: nobody in group 1 can do anything" in text_of(flag)
    assert "step 1 Place order" in text_of(flag) and "nothing to act on yet" in text_of(flag)
    assert flag_of(html, other) is None  # busy: not asked


def test_a_mark_that_leaves_a_dead_end_says_so_at_once(lesson, stuck):
    client, run = lesson["client"], lesson["runs"][0]
    play(run, until="accept")
    response = mark(lesson, run, "accept", "skipped", "absent")
    shown = text_of(page(client, response.headers["Location"].split("#")[0]))
    assert "Step 2 “Accept order” marked skipped for group 1: absent" in shown
    assert "Group 1 can do nothing now (a dead end)" in shown
    flag = flag_of(board(lesson), run)  # not stalled yet: flagged right after the repair
    assert flag and 'data-flag="dead-end"' in flag and "no progress" not in text_of(flag)
    assert 'data-flag="dead-end"' in page(client, f"/classroom/run/{run.id}/repair")


def test_the_board_costs_no_query_for_groups_it_does_not_flag(lesson, monkeypatch):
    """Flags are read from the events the board grades from; a flagged group's plan is kept
    until its run changes, so refreshing the board does not plan again."""
    app, (stalled, _busy) = lesson["app"], lesson["runs"]
    app.config["STALL_MINUTES"] = 3
    from lab.classroom import repair
    counted = {"queries": 0, "plans": 0}
    real_flag, real_answer = repair.flag, repair.answer

    def count(*_args, **_kwargs):
        counted["queries"] += 1

    def flag(*args, **kwargs):
        sa_event.listen(db.engine, "before_cursor_execute", count)
        try:
            return real_flag(*args, **kwargs)
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", count)

    def answer(*args, **kwargs):
        counted["plans"] += 1
        return real_answer(*args, **kwargs)
    monkeypatch.setattr(repair, "flag", flag)
    monkeypatch.setattr(repair, "answer", answer)
    board(lesson)
    assert counted == {"queries": 0, "plans": 0}
    backdate(stalled, 5)
    assert flag_of(board(lesson), stalled)
    assert counted["plans"] == 1
    counted["queries"] = 0
    assert flag_of(board(lesson), stalled)
    assert counted == {"queries": 0, "plans": 1}
