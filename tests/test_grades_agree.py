"""Grades that agree: a run's final score (the grading function's score plus the instructor's
adjustments) is the same number, with the same comment, on every page and export that shows it;
a student's grade names who did each step and shows the student's own points; a run whose steps
are all resolved shows completed."""
import csv
import io
import re

import pytest
from openpyxl import load_workbook

from lab.engine import Actor, perform
from lab.errors import DomainError
from lab.extensions import db
from lab.headless import drive
from lab.models import Classroom, Enrollment, Group, Run, User
from lab.plan import plan
from lab.runs import grade_run
from tests.helpers import doc, login, make_user, post

EN = {"Accept-Language": "en"}
COMMENT = "Helped group 2 find the bank transfer"


def page(client, url) -> str:
    response = client.get(url, headers=EN)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def row_of(html: str, attribute: str, value) -> str:
    """The table row (or list item) carrying data-<attribute>="value"."""
    match = re.search(rf'<tr[^>]*data-{attribute}="{value}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row data-{attribute}={value}"
    return match.group(0)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def group_of_three(app):
    """A class of three students in one group: Ann buys (and pays), Bo sells, Cai is finance;
    the warehouse, logistics and the other roles are bots. The run of b2c-normal is started."""
    make_user("teacher", is_instructor=True)
    teacher = app.test_client()
    login(teacher, "teacher")
    post(teacher, "/classroom/new", {"name": "Class A"})
    classroom = db.session.scalar(db.select(Classroom))
    data = b"student number,name\n3001,Ann Lee\n3002,Bo Wu\n3003,Cai Yun\n"
    post(teacher, f"/classroom/{classroom.id}/roster",
         {"roster": (io.BytesIO(data), "roster.csv")}, content_type="multipart/form-data")
    assert post(teacher, f"/classroom/{classroom.id}/groups", {"size": "3"}).status_code == 302
    group = db.session.scalar(db.select(Group))
    ann, bo, cai = (db.session.scalar(db.select(User).where(User.username == no))
                    for no in ("3001", "3002", "3003"))
    post(teacher, f"/classroom/{classroom.id}/roles",
         {"how": "manual", "group": str(group.id), "role-buyer": str(ann.id),
          "role-supplier": str(bo.id), "role-finance": str(cai.id)})
    post(teacher, f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal"})
    run = db.session.scalar(db.select(Run))
    post(teacher, f"/classroom/assignment/{run.assignment_id}/clock", {"op": "start"})
    students = {}
    for user in (ann, bo, cai):
        client = app.test_client()
        password = db.session.scalar(db.select(Enrollment.initial_password).where(
            Enrollment.user_id == user.id))
        login(client, user.username, password)
        students[user.username] = client
    return teacher, run, (ann, bo, cai), students


def student_does(run, step_id: str, user: User):
    """The student in the step's seat does the step, as the plan says it is done now."""
    run = db.session.get(Run, run.id)
    move = next(m for m in plan(run, grade_run(run)).for_step(step_id) if not m.gap)
    return perform(run.id, Actor(move.role, "student", user.id), move.action, move.doc,
                   move.params)


@pytest.fixture
def played(group_of_three):
    """Ann orders, tries to pay too early (a mistake) and pays, Bo accepts, Cai confirms the
    payment; bots do the rest. The instructor adds +5 to the group with a comment."""
    teacher, run, (ann, bo, cai), students = group_of_three
    student_does(run, "order", ann)
    with pytest.raises(DomainError):  # not accepted yet: a refused attempt costs 1
        perform(run.id, Actor("buyer", "student", ann.id), "pay_order", doc(run, "order"))
    student_does(run, "accept", bo)
    student_does(run, "pay", ann)
    student_does(run, "confirm-payment", cai)
    drive(db.session.get(Run, run.id))
    assert post(teacher, f"/classroom/run/{run.id}/adjust",
                {"points": "5", "comment": COMMENT}).status_code == 302
    return group_of_three


def test_the_final_score_and_its_comment_are_the_same_everywhere(played):
    teacher, run, (ann, bo, cai), students = played
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.completed and graded.score == 69 and graded.max_score == 70  # 70 − 1 mistake
    final = graded.score + 5
    points = {u.id: int(graded.per_user[u.id]["points"]) for u in (ann, bo, cai)}
    assert points == {ann.id: 19, bo.id: 10, cai.id: 10}
    assignment_id = run.assignment_id

    # the grade sheet: the group's automatic score, the adjustment with its comment, the total
    sheet = page(teacher, f"/classroom/assignment/{assignment_id}/grades")
    group_row = row_of(sheet, "group", "1")
    assert ">69</td>" in group_row and f'score">{final}/70</td>' in group_row
    assert COMMENT in group_row and "+5" in group_row
    for user in (ann, bo, cai):
        row = row_of(sheet, "student", user.student_no)
        assert f'total">{points[user.id]}</td>' in row

    # the exports: the same numbers and the comment
    book = load_workbook(io.BytesIO(teacher.get(
        f"/classroom/assignment/{assignment_id}/grades?format=xlsx").data))
    rows = list(book["groups"].iter_rows(values_only=True))
    header = list(rows[1])
    assert rows[2][header.index("score")] == final and rows[2][header.index("auto")] == 69
    assert rows[2][header.index("comment")] == f"(+5) {COMMENT}"
    assert rows[2][header.index("completed")] is True
    rows = list(book["students"].iter_rows(values_only=True))
    header = list(rows[1])
    by_no = {r[header.index("student_no")]: r for r in rows[2:]}
    for user in (ann, bo, cai):
        row = by_no[user.student_no]
        assert row[header.index("group_score")] == final
        assert row[header.index("total")] == points[user.id]
        assert row[header.index("group_comment")] == f"(+5) {COMMENT}"
    reader = list(csv.DictReader(io.StringIO(teacher.get(
        f"/classroom/assignment/{assignment_id}/grades?format=csv").data.decode("utf-8-sig"))))
    assert {r["student_no"]: (float(r["group_score"]), float(r["total"]), r["group_comment"])
            for r in reader} == {u.student_no: (final, points[u.id], f"(+5) {COMMENT}")
                                 for u in (ann, bo, cai)}

    # the lab report, as the instructor and as the student reads it
    for client in (teacher, students[ann.username]):
        report = page(client, f"/classroom/run/{run.id}/report/{ann.id}")
        assert f'<strong id="group-score">{final}</strong>/70' in report
        assert f'<strong id="my-points">{points[ann.id]}</strong>' in report
        assert COMMENT in report and 'run-completed">completed</span>' in report

    # each student's home: the group's final score, their own points, the comment, completed
    for user in (ann, bo, cai):
        home = page(students[user.username], "/")
        item = home.split(f'data-run="{run.id}"')[1]
        assert f'class="group-score">{final}</strong>/70' in item
        assert f'class="my-points">{points[user.id]}</strong>' in item
        assert COMMENT in item and ">completed</span>" in item

    # the live board
    board = page(teacher, f"/classroom/assignment/{assignment_id}/board?fragment=1")
    board_row = row_of(board, "run", run.id)
    assert f">{final}/70</td>" in board_row and "completed" in board_row


def test_a_student_s_grade_names_who_did_each_step_and_their_own_points(played):
    teacher, run, (ann, bo, cai), students = played
    url = f"/classroom/run/{run.id}/report/{ann.id}"
    mine = page(students[ann.username], url)
    steps = mine.split('id="report-steps"')[1].split("</table>")[0]

    def by(html, step):
        return text_of(row_of(html, "step", step).split('class="step-by')[1].split("</td>")[0]
                       .split(">", 1)[1])

    assert by(steps, "order") == "you" and by(steps, "pay") == "you"
    assert by(steps, "accept") == "Bo Wu" and by(steps, "confirm-payment") == "Cai Yun"
    assert by(steps, "ship") == "bot" and by(steps, "receipt") == "bot"
    assert '<strong id="my-points">19</strong>' in mine
    # Ann's refused attempt is a lost point with its reason, and whose it was
    losses = mine.split('id="losses"')[1].split("</ul>")[0]
    assert re.search(r"−1</span><span>[^<]*paid[^<]*<span[^>]*>· you</span>", losses)
    # Bo reads his own steps as "you", Ann's (and her mistake) by her name, and his points
    his = page(students[bo.username], f"/classroom/run/{run.id}/report/{bo.id}")
    his_steps = his.split('id="report-steps"')[1].split("</table>")[0]
    assert by(his_steps, "accept") == "you" and by(his_steps, "order") == "Ann Lee"
    assert "· Ann Lee</span>" in his.split('id="losses"')[1].split("</ul>")[0]
    assert '<strong id="my-points">10</strong>' in his
    # the instructor reads everyone by name: nobody is "you"
    theirs = page(teacher, url).split('id="report-steps"')[1].split("</table>")[0]
    assert by(theirs, "order") == "Ann Lee" and ">you<" not in theirs


def test_see_my_grade_leads_a_class_student_to_their_own_grade(played):
    teacher, run, (ann, bo, cai), students = played
    console = page(students[bo.username], f"/run/{run.id}/supplier/")
    link = re.search(r'id="see-my-grade" href="([^"]+)"', console)
    assert link and link.group(1) == f"/classroom/run/{run.id}/report/{bo.id}#grade"
    grade = page(students[bo.username], link.group(1).split("#")[0])
    assert 'id="grade"' in grade and "Bo Wu" in grade


def test_a_run_with_every_step_resolved_shows_completed(group_of_three):
    """Bots play up to the receipt, which the instructor marks skipped: every step resolved,
    one not met; the run is completed everywhere and the skipped step says why."""
    teacher, run, (ann, bo, cai), students = group_of_three
    drive(db.session.get(Run, run.id), until="receipt")
    teacher_user = db.session.scalar(db.select(User).where(User.username == "teacher"))
    perform(run.id, Actor("instructor", "instructor", teacher_user.id), "mark_step", None,
            {"step": "receipt", "verdict": "skipped", "reason": "the buyer was ill"})
    graded = grade_run(db.session.get(Run, run.id))
    assert graded.completed and graded.met_count == 6 and graded.max_score == 60
    assert db.session.get(Run, run.id).status == "running"  # nobody stopped it

    board = row_of(page(teacher, f"/classroom/assignment/{run.assignment_id}/board?fragment=1"),
                   "run", run.id)
    assert "completed" in board
    sheet = row_of(page(teacher, f"/classroom/assignment/{run.assignment_id}/grades"),
                   "group", "1")
    assert ">completed</span>" in sheet and 'score">60/60</td>' in sheet
    report = page(students[ann.username], f"/classroom/run/{run.id}/report/{ann.id}")
    assert 'run-completed">completed</span>' in report
    losses = report.split('id="losses"')[1].split("</ul>")[0]
    assert "not counted" in losses and "the buyer was ill" in losses
    home = page(students[ann.username], "/").split(f'data-run="{run.id}"')[1]
    assert ">completed</span>" in home
