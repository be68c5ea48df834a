"""The instructor's classroom, through HTTP as an instructor and as students would use it."""
import csv
import io
import re

import pytest
from openpyxl import Workbook, load_workbook

from lab.extensions import db
from lab.models import Adjustment, Classroom, Enrollment, Event, Group, Run, Seat, User
from lab.runs import grade_run
from lab.scenario import load_file
from tests.helpers import SCENARIOS, doc, login, make_user, post


def xlsx(rows):
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def roster(n, start=1):
    return [["学号", "姓名", "邮箱"]] + [[f"2026{i:04d}", f"学生{i}", f"s{i}@uni.edu"]
                                         for i in range(start, start + n)]


@pytest.fixture
def teacher(app):
    make_user("teacher", is_instructor=True)
    client = app.test_client()
    login(client, "teacher")
    post(client, "/classroom/new", {"name": "电商一班"})
    return client, db.session.scalar(db.select(Classroom))


def upload(client, classroom, filename, data):
    return post(client, f"/classroom/{classroom.id}/roster",
                {"roster": (io.BytesIO(data), filename)}, content_type="multipart/form-data",
                headers={"Accept-Language": "en"})


def refused_page(client, response) -> str:
    """A refused upload answers 303 (See Other) to a page listing its problems: that page."""
    assert response.status_code == 303, response.status_code
    page = client.get(response.headers["Location"], headers={"Accept-Language": "en"})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_import_a_40_student_xlsx_then_reimport_updates(teacher):
    client, classroom = teacher
    r = upload(client, classroom, "roster.xlsx", xlsx(roster(40)))
    assert r.status_code == 302
    assert db.session.query(Enrollment).count() == 40
    sheet = client.get(f"/classroom/{classroom.id}/credentials").get_data(as_text=True)
    assert len(set(re.findall(r"<code[^>]*>(2026\d{4})</code>", sheet))) == 40  # every login
    passwords = [e.initial_password for e in db.session.scalars(db.select(Enrollment))]
    assert all(len(p) == 8 and not set(p) & set("0O1lI-_") for p in passwords)  # easy to read
    changed = roster(40)
    changed[1][1] = "改名的学生"
    r = upload(client, classroom, "roster.xlsx", xlsx(changed))
    assert r.status_code == 302
    assert db.session.query(User).filter_by(is_instructor=False).count() == 40
    renamed = db.session.scalar(db.select(User.name).where(User.username == "20260001"))
    assert renamed == "改名的学生"


def test_csv_with_english_headers_and_students_can_log_in(teacher, app):
    client, classroom = teacher
    data = b"student number,name,e-mail\n1001,Ann Lee,\n1002,Bo Wu,bo@uni.edu\n"
    assert upload(client, classroom, "roster.csv", data).status_code == 302
    password = db.session.scalar(db.select(Enrollment.initial_password).join(User).where(
        User.username == "1001"))
    student = app.test_client()
    login(student, "1001", password)


@pytest.mark.parametrize("filename, data, fragments", [
    ("r.xlsx", xlsx([["姓名"], ["A"]]), ["line 1", "学号 / student number"]),
    ("r.xlsx", xlsx([["学号", "姓名"], ["1", "A"], ["1", "B"]]),
     ["line 3", "student number 1 is also on line 2"]),
    ("r.xlsx", xlsx([["学号", "姓名"], ["1", "A"], [None, None], ["2", "B"]]),
     ["line 3", "the row is empty"]),
    ("r.xlsx", xlsx([["学号", "姓名"], ["1", ""]]), ["line 2", "the name is empty"]),
    ("r.pdf", b"%PDF-1.4", ["Upload a .csv or .xlsx file"]),
    ("r.xlsx", b"not a workbook", ["cannot be read as a roster"]),
])
def test_malformed_rosters_are_refused_line_by_line_and_create_nothing(teacher, filename, data,
                                                                        fragments):
    client, classroom = teacher
    text = refused_page(client, upload(client, classroom, filename, data))
    for fragment in fragments:
        assert fragment in text
    assert db.session.query(Enrollment).count() == 0
    assert db.session.query(User).count() == 1  # only the teacher


@pytest.fixture
def class_of_40(teacher):
    client, classroom = teacher
    upload(client, classroom, "roster.xlsx", xlsx(roster(40)))
    r = post(client, f"/classroom/{classroom.id}/groups", {"size": "5"})
    assert r.status_code == 302
    return client, classroom


def test_forming_8_groups_gives_everybody_a_group_and_every_role_a_holder(class_of_40):
    client, classroom = class_of_40
    groups = db.session.scalars(db.select(Group)).all()
    assert len(groups) == 8
    assert all(len(g.members) == 5 for g in groups)
    assert all(len(g.roles) == 7 for g in groups)
    assert all(set(g.roles.values()) <= {e.user_id for e in g.members} for g in groups)


def test_rotation_passes_each_role_to_another_member(class_of_40):
    client, classroom = class_of_40
    before = {g.id: dict(g.roles) for g in db.session.scalars(db.select(Group))}
    post(client, f"/classroom/{classroom.id}/roles", {"how": "rotate"})
    db.session.expire_all()
    for group in db.session.scalars(db.select(Group)):
        assert all(group.roles[r] != before[group.id][r] for r in group.roles)


def test_assignment_gives_each_group_a_run_with_its_seats(class_of_40):
    client, classroom = class_of_40
    r = post(client, f"/classroom/{classroom.id}/assign", {"scenario": "b2c-out-of-stock"})
    assert r.status_code == 302
    runs = db.session.scalars(db.select(Run)).all()
    assert len(runs) == 8 and {r.status for r in runs} == {"ready"}
    group = db.session.get(Group, runs[0].group_id)
    seats = {(s.role, s.user_id) for s in runs[0].seats}
    # b2c-out-of-stock plays six roles, the group holds seven: each of the six keeps its
    # holder, and the mall admin's student sits beside another (nobody idles)
    playing = set(load_file(SCENARIOS / "b2c-out-of-stock.yaml").roles)
    assert {(r, u) for r, u in group.roles.items() if r in playing} <= seats
    assert {r for r, _ in seats} == playing
    assert {u for _, u in seats} == set(group.roles.values())


def test_an_invalid_uploaded_scenario_is_refused_and_nothing_is_saved(class_of_40):
    client, classroom = class_of_40
    r = post(client, f"/classroom/{classroom.id}/assign",
             {"scenario_file": (io.BytesIO(b"format: 2\nid: x\n"), "bad.yaml")},
             content_type="multipart/form-data", headers={"Accept-Language": "en"})
    assert "must be 1 (got 2)" in refused_page(client, r)
    assert db.session.query(Run).count() == 0


@pytest.fixture
def running(class_of_40):
    client, classroom = class_of_40
    post(client, f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal"})
    assignment_id = db.session.scalar(db.select(Run.assignment_id))
    post(client, f"/classroom/assignment/{assignment_id}/clock", {"op": "start"})
    return client, classroom, assignment_id


def played_events() -> int:
    """Events other than the runs' clock (starting the runs is an event of each run)."""
    from lab.runs import CLOCK_ACTIONS
    return db.session.query(Event).filter(Event.action.not_in(CLOCK_ACTIONS)).count()


def student_of(run, role):
    seat = db.session.scalar(db.select(Seat).where(Seat.run_id == run.id, Seat.role == role))
    return db.session.get(User, seat.user_id)


def test_students_play_while_the_board_counts_and_grades_match_the_runs(running, app):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    assert run.status == "running"
    buyer = student_of(run, "buyer")
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == buyer.id))
    student = app.test_client()
    login(student, buyer.username, password)
    post(student, f"/run/{run.id}/buyer/act/place_order",
         {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": "x" * 12})
    post(student, f"/run/{run.id}/buyer/act/pay_order", {"doc": doc(run, "order").id})  # refused
    board = client.get(f"/classroom/assignment/{assignment_id}/board?fragment=1")
    text = board.get_data(as_text=True)
    assert '<small class="progress-text">1/7</small>' in text
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.score == 10 - 1 and len(graded.mistakes) == 1

    post(client, f"/classroom/run/{run.id}/adjust",
         {"points": "2", "comment": "helped group 2", "user": str(buyer.id)})
    sheet = client.get(f"/classroom/assignment/{assignment_id}/grades?format=xlsx")
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    header = list(rows[1])
    mine = next(r for r in rows[2:] if r[header.index("student_no")] == buyer.student_no)
    assert mine[header.index("points")] == graded.per_user[buyer.id]["points"] == 9
    assert mine[header.index("adjustment")] == 2 and mine[header.index("total")] == 11
    assert mine[header.index("group_score")] == graded.score
    text_csv = client.get(f"/classroom/assignment/{assignment_id}/grades?format=csv")
    reader = list(csv.DictReader(io.StringIO(text_csv.data.decode("utf-8-sig"))))
    assert len(reader) == 40
    assert db.session.query(Adjustment).count() == 1


def test_injected_stock_loss_is_an_event_in_the_replay(running):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    r = post(client, f"/classroom/assignment/{assignment_id}/inject",
             {"action": "inject_stock_loss", "run": str(run.id), "sku": "TEA-250", "qty": "30"})
    assert r.status_code == 302
    from tests.helpers import stock
    assert stock(run, "TEA-250") == 70
    event = db.session.scalar(db.select(Event).where(Event.action == "inject_stock_loss"))
    assert event.actor == "instructor" and event.run_id == run.id
    replay = client.get(f"/classroom/run/{run.id}/replay",
                        headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'class="replay-row table-warning"' in replay
    assert ">injected</span>" in replay and "Inject: stock loss" in replay


def test_lab_report_with_reflection_marked_by_the_instructor(running, app):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    buyer = student_of(run, "buyer")
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == buyer.id))
    student = app.test_client()
    login(student, buyer.username, password)
    url = f"/classroom/run/{run.id}/report/{buyer.id}"
    assert post(student, url, {"text": "我学会了订单流程。"}).status_code == 302
    assert post(client, url, {"mark": "88", "comment": "good"}).status_code == 302
    page = student.get(url).get_data(as_text=True)
    assert "我学会了订单流程。" in page and "88" in page
    other = db.session.scalar(db.select(Seat).where(Seat.run_id == run.id,
                                                    Seat.user_id != buyer.id))
    assert student.get(f"/classroom/run/{run.id}/report/{other.user_id}").status_code == 404


def test_students_cannot_reach_other_groups_or_instructor_pages(running, app):
    client, classroom, assignment_id = running
    runs = db.session.scalars(db.select(Run).order_by(Run.id)).all()
    buyer = student_of(runs[0], "buyer")
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == buyer.id))
    student = app.test_client()
    login(student, buyer.username, password)
    for role in ("buyer", "supplier", "finance"):
        assert student.get(f"/run/{runs[1].id}/{role}/").status_code == 403
    assert student.get(f"/live/{runs[1].id}").status_code == 404
    for url in ("/classroom/", f"/classroom/{classroom.id}",
                f"/classroom/assignment/{assignment_id}/board",
                f"/classroom/assignment/{assignment_id}/grades?format=csv",
                f"/classroom/run/{runs[0].id}/replay"):
        assert student.get(url).status_code == 403, url
    home = student.get("/").get_data(as_text=True)
    assert f"/run/{runs[0].id}/buyer/" in home and f"/run/{runs[1].id}/" not in home


def test_another_instructor_sees_nothing_of_this_class(running, app):
    client, classroom, assignment_id = running
    make_user("teacher2", is_instructor=True)
    other = app.test_client()
    login(other, "teacher2")
    assert classroom.name not in other.get("/classroom/").get_data(as_text=True)
    assert other.get(f"/classroom/{classroom.id}").status_code == 404
    assert other.get(f"/classroom/assignment/{assignment_id}/board").status_code == 404
    run = db.session.scalars(db.select(Run)).first()
    assert other.get(f"/run/{run.id}/buyer/").status_code == 403


def test_students_join_with_the_class_code(teacher, app):
    client, classroom = teacher
    student = app.test_client()
    from tests.helpers import csrf_token
    token = csrf_token(student, "/auth/register")
    r = student.post("/auth/register", data={
        "csrf_token": token, "join_code": classroom.join_code.lower(), "student_no": "S100",
        "name": "新同学", "password": "longpass1", "confirm": "longpass1"})
    assert r.status_code == 302
    assert db.session.scalar(db.select(Enrollment).join(User).where(User.username == "S100"))
    bad = app.test_client()
    token = csrf_token(bad, "/auth/register")
    r = bad.post("/auth/register", data={
        "csrf_token": token, "join_code": "WRONG", "student_no": "S101", "name": "x",
        "password": "longpass1", "confirm": "longpass1"}, headers={"Accept-Language": "en"})
    assert r.status_code == 400 and "No class has this join code" in r.get_data(as_text=True)


def test_only_an_admin_creates_instructors(teacher, app):
    client, classroom = teacher
    assert post(client, "/classroom/instructors",
                {"username": "t3", "password": "longpass1"}).status_code == 403
    make_user("boss", is_admin=True)
    admin = app.test_client()
    login(admin, "boss")
    assert post(admin, "/classroom/instructors",
                {"username": "t3", "password": "longpass1"}).status_code == 302
    assert db.session.scalar(db.select(User.is_instructor).where(User.username == "t3"))


def test_the_instructor_opens_any_console_of_a_group_read_only(running):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    page = client.get(f"/run/{run.id}/warehouse/", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "read-only view" in text
    assert post(client, f"/run/{run.id}/buyer/act/place_order",
                {"sku": "TEA-250", "qty": "1", "payment": "bank_transfer"}).status_code == 403
    from lab.models import Document
    assert db.session.query(Document).count() == 0


def test_bad_adjustments_and_marks_are_refused_and_change_nothing(running, app):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    for data in ({"points": "abc", "comment": "x"}, {"points": "5", "comment": " "},
                 {"points": "5000", "comment": "x"}):
        assert post(client, f"/classroom/run/{run.id}/adjust", data).status_code == 303
    assert db.session.query(Adjustment).count() == 0
    buyer = student_of(run, "buyer")
    url = f"/classroom/run/{run.id}/report/{buyer.id}"
    r = post(client, url, {"mark": "101", "comment": ""}, follow_redirects=True,
             headers={"Accept-Language": "en"})
    assert "The mark must be a number from 0 to 100." in r.get_data(as_text=True)
    from lab.models import Reflection
    assert db.session.query(Reflection).filter(Reflection.mark.isnot(None)).count() == 0


def test_resent_instructor_forms_change_things_once(class_of_40):
    client, classroom = class_of_40
    once = {"request_key": "same-form-key-1"}
    before = {g.id: dict(g.roles) for g in db.session.scalars(db.select(Group))}
    for _ in range(2):
        post(client, f"/classroom/{classroom.id}/roles", {"how": "rotate", **once})
    db.session.expire_all()
    for group in db.session.scalars(db.select(Group)):  # rotated once, not back and forth
        members = sorted(e.user_id for e in group.members)
        assert all(group.roles[r] != before[group.id][r] for r in group.roles) or \
            len(members) == 1
    key = {"request_key": "same-form-key-2"}
    for _ in range(2):
        post(client, f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal", **key})
    from lab.models import Assignment
    assert db.session.query(Assignment).count() == 1 and db.session.query(Run).count() == 8
    run = db.session.scalars(db.select(Run)).first()
    for _ in range(2):
        post(client, f"/classroom/run/{run.id}/adjust",
             {"points": "1", "comment": "bonus", "request_key": "same-form-key-3"})
    assert db.session.query(Adjustment).count() == 1
    assignment_id = run.assignment_id
    post(client, f"/classroom/assignment/{assignment_id}/clock", {"op": "start"})
    for _ in range(2):
        post(client, f"/classroom/assignment/{assignment_id}/inject",
             {"action": "inject_stock_loss", "sku": "TEA-250", "qty": "1",
              "request_key": "same-form-key-4"})
    assert db.session.query(Event).filter_by(action="inject_stock_loss").count() == 8
    for _ in range(2):
        post(client, "/classroom/new", {"name": "二班", "request_key": "same-form-key-5"})
    assert db.session.query(Classroom).filter_by(name="二班").count() == 1


# ---- rosters as schools write them ------------------------------------------------------------

def test_a_roster_with_a_title_line_imports_and_counts_lines_as_the_file_does(teacher):
    client, classroom = teacher
    titled = [["电子商务2026级1班名单"], ["序号", "学 号", "姓名", "E-mail"],
              [1, 20260001, "王芳", "wf@uni.edu"], [2, "20260002", "李雷", None]]
    assert upload(client, classroom, "roster.xlsx", xlsx(titled)).status_code == 302
    assert {u.username for u in db.session.scalars(db.select(User).where(
        User.is_instructor.is_(False)))} == {"20260001", "20260002"}
    bad = titled + [[3, "20260001", "重复", None]]
    r = upload(client, classroom, "roster.xlsx", xlsx(bad))
    assert "line 5" in refused_page(client, r)  # the fifth row of the file, as Excel numbers it


def test_a_student_who_registered_late_is_moved_into_a_group(class_of_40, app):
    client, classroom = class_of_40
    late = make_user("late1")
    db.session.add(Enrollment(classroom_id=classroom.id, user_id=late.id))
    db.session.commit()
    page = client.get(f"/classroom/{classroom.id}").get_data(as_text=True)
    assert 'id="ungrouped"' in page and "Late1" in page
    group = db.session.scalars(db.select(Group).order_by(Group.number)).first()
    enrollment = db.session.scalar(db.select(Enrollment).where(Enrollment.user_id == late.id))
    post(client, f"/classroom/{classroom.id}/move",
         {"enrollment": str(enrollment.id), "group": str(group.id)})
    db.session.expire_all()
    assert db.session.get(Enrollment, enrollment.id).group_id == group.id


# ---- grades: the exports carry the runs' numbers ---------------------------------------------

def test_every_exported_number_is_the_grading_function_s(running, app):
    client, classroom, assignment_id = running
    from lab.headless import drive
    from tests.helpers import play
    runs = db.session.scalars(db.select(Run).order_by(Run.id)).all()
    drive(runs[0])                     # group 1's bots complete the scenario (full points)
    play(runs[1], until="ship")        # group 2 is half way ("show me": no points)
    sly = student_of(runs[1], "finance")
    sly.name = "=1+2"                  # a name a spreadsheet would take for a formula
    db.session.commit()
    post(client, f"/classroom/run/{runs[1].id}/adjust",
         {"points": "-3", "comment": "=HYPERLINK(\"x\") late"})
    book = load_workbook(io.BytesIO(client.get(
        f"/classroom/assignment/{assignment_id}/grades?format=xlsx").data))
    students, groups = book["students"], book["groups"]
    group_rows = list(groups.iter_rows(values_only=True))
    header = list(group_rows[1])
    by_group = {r[header.index("group")]: r for r in group_rows[2:]}
    assert len(by_group) == 8
    for run in runs:
        graded = grade_run(db.session.get(Run, run.id))
        number = db.session.get(Group, run.group_id).number
        row = by_group[number]
        adjustment = -3 if run.id == runs[1].id else 0
        assert row[header.index("auto")] == graded.score
        assert row[header.index("score")] == graded.score + adjustment
        assert row[header.index("met")] == graded.met_count
        assert row[header.index("mistakes")] == len(graded.mistakes)
    assert by_group[1][header.index("score")] == by_group[1][header.index("max")]
    assert by_group[2][header.index("comment")] == "(-3) =HYPERLINK(\"x\") late"
    student_rows = list(students.iter_rows(values_only=True))
    header = list(student_rows[1])
    exported = {r[header.index("student_no")]: r for r in student_rows[2:]}
    assert len(exported) == 40
    for run in runs[:2]:
        graded = grade_run(db.session.get(Run, run.id))
        for seat in run.seats:
            user = db.session.get(User, seat.user_id)
            points = graded.per_user.get(user.id, {"points": 0})["points"]
            assert exported[user.student_no][header.index("points")] == points
    assert exported[sly.student_no][header.index("name")] == "'=1+2"
    reader = list(csv.DictReader(io.StringIO(client.get(
        f"/classroom/assignment/{assignment_id}/grades?format=csv").data.decode("utf-8-sig"))))
    assert {r["student_no"]: float(r["points"]) for r in reader} == {
        k: float(v[header.index("points")]) for k, v in exported.items()}


def test_a_student_adjustment_is_kept_with_its_comment_on_the_sheet_and_report(running, app):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    buyer = student_of(run, "buyer")
    post(client, f"/classroom/run/{run.id}/adjust",
         {"points": "2.5", "comment": "帮助了第二组", "user": str(buyer.id)})
    sheet = client.get(f"/classroom/assignment/{assignment_id}/grades").get_data(as_text=True)
    assert "帮助了第二组" in sheet and "+2.5" in sheet
    report = client.get(f"/classroom/run/{run.id}/report/{buyer.id}").get_data(as_text=True)
    assert "帮助了第二组" in report and '<strong id="my-points">2.5</strong>' in report


# ---- injections through the board ------------------------------------------------------------

def inject(client, assignment_id, action, run=None, **fields):
    data = {"action": action, **fields}
    if run is not None:
        data["run"] = str(run.id)
    return post(client, f"/classroom/assignment/{assignment_id}/inject", data,
                follow_redirects=True, headers={"Accept-Language": "en"})


def test_each_injection_is_an_instructor_event_of_the_group_it_was_sent_to(running, app):
    client, classroom, assignment_id = running
    from tests.helpers import balance, play
    runs = db.session.scalars(db.select(Run).order_by(Run.id)).all()
    paid, received = runs[0], runs[1]
    play(paid, until="confirm-payment")
    play(received)
    order = doc(paid, "order")
    page = inject(client, assignment_id, "inject_payment_failure", paid, number=order.number)
    assert "Injected into 1 runs" in page.get_data(as_text=True)
    assert doc(paid, "order").payment == "unpaid" and balance(paid, "buyer") == "20000.00"
    inject(client, assignment_id, "inject_return_request", received,
           number=doc(received, "order").number, reason="包装破损")
    assert doc(received, "return").state == "requested"
    page = inject(client, assignment_id, "inject_notice", title="停电", body="仓库停电两小时")
    assert "Injected into 8 runs" in page.get_data(as_text=True)
    for action, count in (("inject_payment_failure", 1), ("inject_return_request", 1),
                          ("inject_notice", 8)):
        found = db.session.scalars(db.select(Event).where(Event.action == action)).all()
        assert len(found) == count and all(e.actor == "instructor" for e in found)
    # An order not paid yet cannot fail its payment: the group is named, nothing changes.
    unpaid = runs[2]
    play(unpaid, until="pay")
    page = inject(client, assignment_id, "inject_payment_failure", unpaid, number="SO-0001")
    assert "Group 3" in page.get_data(as_text=True)
    assert doc(unpaid, "order").payment == "unpaid"
    assert db.session.query(Event).filter_by(action="inject_payment_failure").count() == 1
    replay = client.get(f"/classroom/run/{received.id}/replay",
                        headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert replay.count("table-warning") == 2 and "包装破损" in replay  # return and notice


def test_an_injection_names_a_run_of_this_assignment_only(running, app):
    client, classroom, assignment_id = running
    from tests.helpers import start_run
    stranger = start_run("b2c-normal")
    r = post(client, f"/classroom/assignment/{assignment_id}/inject",
             {"action": "inject_stock_loss", "run": str(stranger.id), "sku": "TEA-250",
              "qty": "5"})
    assert r.status_code == 404
    assert post(client, f"/classroom/assignment/{assignment_id}/inject",
                {"action": "place_order"}).status_code == 400
    assert played_events() == 0


# ---- the board ----------------------------------------------------------------------------

def test_the_board_shows_progress_mistakes_who_is_next_and_only_clock_buttons_that_apply(
        running, app):
    client, classroom, assignment_id = running
    from tests.helpers import play
    runs = db.session.scalars(db.select(Run).order_by(Run.id)).all()
    play(runs[0], until="ship")
    supplier = student_of(runs[1], "supplier")
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == supplier.id))
    student = app.test_client()
    login(student, supplier.username, password)
    post(student, f"/run/{runs[1].id}/supplier/act/accept_order", {"doc": "1"})  # nothing yet
    post(client, f"/classroom/assignment/{assignment_id}/clock",
         {"op": "pause", "run": str(runs[2].id)})
    html = client.get(f"/classroom/assignment/{assignment_id}/board?fragment=1",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    rows = html.split("<tr data-group=")[1:]
    first = next(r for r in rows if f'data-run="{runs[0].id}"' in r)
    second = next(r for r in rows if f'data-run="{runs[1].id}"' in r)
    third = next(r for r in rows if f'data-run="{runs[2].id}"' in r)
    graded = grade_run(db.session.get(Run, runs[0].id))
    assert f'<small class="progress-text">{graded.met_count}/7</small>' in first
    warehouse = student_of(runs[0], "warehouse")
    assert f"Warehouse: <span class=\"\">{warehouse.display_name}</span>" in first
    assert 'text-danger fw-semibold">1</td>' in second  # the refused attempt
    assert ">Pause</button>" in first and ">Start</button>" not in first
    assert ">Resume</button>" in third and ">Pause</button>" not in third


# ---- the students' side ----------------------------------------------------------------------

def test_home_shows_the_class_the_group_the_team_and_the_time_left(running, app):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    buyer = student_of(run, "buyer")
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == buyer.id))
    student = app.test_client()
    login(student, buyer.username, password)
    home = student.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    group = db.session.get(Group, run.group_id)
    assert classroom.name in home and f"Group {group.number}" in home
    finance = student_of(run, "finance")
    assert f"{finance.display_name}: Finance department" in home
    assert "data-countdown=" in home and "Time left" in home
    post(client, f"/classroom/assignment/{assignment_id}/clock", {"op": "pause"})
    home = student.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "data-countdown=" not in home and "Paused by your instructor" in home


def test_a_student_with_an_account_joins_another_class_with_its_code(running, app):
    client, classroom, assignment_id = running
    post(client, "/classroom/new", {"name": "选修班"})
    other = db.session.scalar(db.select(Classroom).where(Classroom.name == "选修班"))
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    buyer = student_of(run, "buyer")
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == buyer.id))
    student = app.test_client()
    login(student, buyer.username, password)
    assert post(student, "/auth/join", {"join_code": "NOPE"}).status_code == 303
    for _ in range(2):
        post(student, "/auth/join", {"join_code": other.join_code.lower()})
    assert db.session.query(Enrollment).filter_by(user_id=buyer.id).count() == 2
    assert post(client, "/auth/join", {"join_code": other.join_code}).status_code == 303
    assert db.session.query(Enrollment).filter_by(classroom_id=other.id).count() == 1


def test_the_lab_report_lists_documents_and_refused_attempts(running, app):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    buyer = student_of(run, "buyer")
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == buyer.id))
    student = app.test_client()
    login(student, buyer.username, password)
    post(student, f"/run/{run.id}/buyer/act/place_order",
         {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": "y" * 12})
    post(student, f"/run/{run.id}/buyer/act/pay_order", {"doc": doc(run, "order").id})
    page = student.get(f"/classroom/run/{run.id}/report/{buyer.id}",
                       headers={"Accept-Language": "en"}).get_data(as_text=True)
    documents = page.split('id="report-documents"')[1].split("</table>")[0]
    assert "SO-0001" in documents and "Order" in documents
    events = page.split('id="report-events"')[1].split("</ul>")[0]
    assert events.count('class="text-danger"') == 1 and "refused" in events


# ---- authorization: every instructor action refuses students and other instructors -----------

def test_no_instructor_action_is_open_to_a_student(running, app):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    buyer = student_of(run, "buyer")
    password = db.session.scalar(db.select(Enrollment.initial_password).where(
        Enrollment.user_id == buyer.id))
    student = app.test_client()
    login(student, buyer.username, password)
    events_before = db.session.query(Event).count()
    for url, data in (
            ("/classroom/new", {"name": "x"}),
            (f"/classroom/{classroom.id}/groups", {"size": "3"}),
            (f"/classroom/{classroom.id}/roles", {"how": "rotate"}),
            (f"/classroom/{classroom.id}/move", {"enrollment": "1", "group": ""}),
            (f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal"}),
            (f"/classroom/assignment/{assignment_id}/clock", {"op": "stop"}),
            (f"/classroom/assignment/{assignment_id}/inject",
             {"action": "inject_stock_loss", "sku": "TEA-250", "qty": "1"}),
            (f"/classroom/run/{run.id}/adjust", {"points": "50", "comment": "me"}),
            ("/classroom/instructors", {"username": "hacker", "password": "longpass1"})):
        assert post(student, url, data).status_code == 403, url
    for url in (f"/classroom/{classroom.id}/credentials",
                f"/classroom/assignment/{assignment_id}/grades"):
        assert student.get(url).status_code == 403, url
    assert post(student, f"/classroom/run/{run.id}/report/{buyer.id}",
                {"mark": "100", "comment": "self"}).status_code == 302  # saved as reflection
    from lab.models import Assignment, Reflection
    assert db.session.scalar(db.select(Reflection.mark)) is None
    assert db.session.query(Event).count() == events_before
    assert db.session.query(Classroom).count() == 1 and db.session.query(Assignment).count() == 1
    assert {r.status for r in db.session.scalars(db.select(Run))} == {"running"}


def test_another_instructor_cannot_act_on_this_class(running, app):
    client, classroom, assignment_id = running
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    buyer = student_of(run, "buyer")
    make_user("teacher2", is_instructor=True)
    other = app.test_client()
    login(other, "teacher2")
    for url, data in (
            (f"/classroom/{classroom.id}/groups", {"size": "3"}),
            (f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal"}),
            (f"/classroom/assignment/{assignment_id}/clock", {"op": "stop"}),
            (f"/classroom/assignment/{assignment_id}/inject",
             {"action": "inject_notice", "title": "x", "body": "y"}),
            (f"/classroom/run/{run.id}/adjust", {"points": "5", "comment": "x"}),
            (f"/classroom/run/{run.id}/report/{buyer.id}", {"mark": "1", "comment": ""})):
        assert post(other, url, data).status_code == 404, url
    for url in (f"/classroom/{classroom.id}/credentials",
                f"/classroom/assignment/{assignment_id}/grades?format=xlsx",
                f"/classroom/run/{run.id}/replay", f"/classroom/run/{run.id}/report/{buyer.id}"):
        assert other.get(url).status_code == 404, url
    assert played_events() == 0 and db.session.query(Adjustment).count() == 0


def test_the_replay_marks_what_did_not_count(running, app):
    client, classroom, assignment_id = running
    from tests.helpers import act
    run = db.session.scalars(db.select(Run).order_by(Run.id)).first()
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 3}],
        payment="bank_transfer")  # the scenario checks for 2
    replay = client.get(f"/classroom/run/{run.id}/replay",
                        headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert replay.count(">not counted</span>") == 2  # the row and the legend
    assert ">step 1</span>" not in replay
