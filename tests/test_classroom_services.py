"""The classroom's services called directly, without HTTP: rosters, groups, assignments and
grades. They flush and raise DomainErrors; the caller (a request, here the test) commits."""
import os

import pytest

from lab.classroom import groups, rosters, work
from lab.classroom.grades import assignment_rows, final
from lab.errors import DomainError, InvalidInput, NotAllowed, Problem
from lab.extensions import db
from lab.models import Classroom, Enrollment, User
from lab.scenario import library, load_file
from tests.helpers import SCENARIOS, make_user


def _class(app, name="电商一班", students=0):
    teacher = make_user(f"t-{name}", is_instructor=True)
    classroom = Classroom(name=name, instructor_id=teacher.id, join_code=f"CODE{len(name)}XYZW")
    db.session.add(classroom)
    db.session.flush()
    for i in range(students):
        work.join(make_user(f"s{i:02d}-{classroom.id}"), classroom)
    db.session.commit()
    return teacher, classroom


def _roster(text: str):
    return rosters.parse("r.csv", text.encode("utf-8"))


# ---- rosters --------------------------------------------------------------------------------

def test_a_roster_creates_its_students_each_with_an_initial_password(app, english):
    _, classroom = _class(app)
    rows, problems = _roster("学号,姓名\n20260001,王芳\n20260002,林伟\n")
    assert problems == []
    result = rosters.import_roster(classroom, rows)
    assert (result.created, result.updated, result.notes) == (2, 0, [])
    wang = db.session.scalar(db.select(User).where(User.username == "20260001"))
    enrollment = db.session.scalar(db.select(Enrollment).where(Enrollment.user_id == wang.id))
    assert wang.name == "王芳" and wang.check_password(enrollment.initial_password)
    again = rosters.import_roster(classroom, rows)  # a re-import updates, creates nobody
    assert (again.created, again.updated) == (0, 2)


def test_a_bad_roster_lists_every_problem_with_its_line_and_imports_nothing(app, english):
    rows, problems = _roster("学号,姓名\n1,A\n1,B\n,C\n")
    assert rows == []
    assert all(isinstance(p, Problem) for p in problems)
    assert [p.text() for p in problems] == [
        "line 3: student number 1 is also on line 2", "line 4: the student number is empty"]
    assert Problem.from_json(problems[0].to_json()).text() == problems[0].text()


def test_a_file_that_is_no_roster_is_one_problem_of_the_whole_file(app, english):
    _, problems = rosters.parse("r.pdf", b"%PDF-1.4")
    [problem] = problems
    assert problem.line == 0 and problem.text().startswith("Upload a .csv or .xlsx file")
    with pytest.raises(InvalidInput):  # a roster refuses with a domain error
        rosters._cells("r.pdf", b"%PDF-1.4")


def test_a_roster_leaves_an_instructors_account_alone(app, english):
    _, classroom = _class(app)
    make_user("20260009", is_instructor=True, name="Teacher Li")
    rows, _ = _roster("学号,姓名\n20260009,冒名\n")
    result = rosters.import_roster(classroom, rows)
    assert result.left_out == 1 and result.notes[0].kind == "left_out"
    assert "username of an instructor's account" in result.notes[0].text()
    assert db.session.scalar(db.select(User).where(User.username == "20260009")).name == \
        "Teacher Li"


# ---- groups ---------------------------------------------------------------------------------

def test_groups_share_the_class_out_and_hand_out_every_role(app):
    _, classroom = _class(app, students=10)
    made = groups.form_groups(classroom, 5, seed=3)
    assert sorted(len(g.members) for g in made) == [5, 5]
    for group in made:
        members = {e.user_id for e in group.members}
        assert len(group.roles) == 7 and set(group.roles.values()) <= members


def test_a_class_without_students_cannot_form_groups(app, english):
    _, classroom = _class(app)
    with pytest.raises(NotAllowed, match="Import a roster first"):
        groups.form_groups(classroom, 4)


def test_roles_go_to_members_only_and_a_moved_student_leaves_theirs_to_bots(app, english):
    _, classroom = _class(app, students=4)
    one, two = groups.form_groups(classroom, 2, seed=1)
    outsider = two.members[0]
    with pytest.raises(NotAllowed, match="Only members of group 1"):
        groups.set_roles(one, {"buyer": outsider.user_id})
    mover = one.members[0]
    held = {r for r, uid in one.roles.items() if uid == mover.user_id}
    assert held
    groups.move(mover, two)
    assert not held & set(one.roles)  # empty now: bots play them
    assert mover.group_id == two.id


def test_a_class_with_assignments_keeps_its_groups(app, english):
    teacher, classroom = _class(app, students=2)
    made = groups.form_groups(classroom, 2, seed=1)
    work.assign(classroom, load_file(SCENARIOS / "b2c-normal.yaml"), made, teacher.id)
    with pytest.raises(NotAllowed, match="already has assignments"):
        groups.form_groups(classroom, 1)


# ---- assignments ----------------------------------------------------------------------------

def test_an_assignment_gives_each_group_one_run_seated_by_its_roles(app):
    teacher, classroom = _class(app, students=4)
    made = groups.form_groups(classroom, 2, seed=2)
    app.config["BOT_DELAY_SECONDS"] = 7
    assignment = work.assign(classroom, load_file(SCENARIOS / "b2c-normal.yaml"), made,
                             teacher.id)
    assert len(assignment.runs) == 2
    for run in assignment.runs:
        group = next(g for g in made if g.id == run.group_id)
        seats = {(s.role, s.user_id) for s in run.seats}
        # every member in a seat of a role the scenario plays (b2c-normal: five roles)
        assert {u for _, u in seats} == set(group.roles.values())
        assert {r for r, _ in seats} <= set(load_file(SCENARIOS / "b2c-normal.yaml").roles)
        assert {(r, u) for r, u in group.roles.items() if r in {x for x, _ in seats}} <= seats
        assert run.status != "running" and run.kind == "class"
        assert run.bot_delay_seconds == 7  # the lab's BOT_DELAY_SECONDS


def test_a_member_whose_role_the_scenario_does_not_play_sits_beside_another():
    """b2c-normal plays buyer, supplier, finance, warehouse and logistics: in a group of seven
    the mall admin's and the purchaser's students are seated too, each beside a holder of a
    role with the fewest holders, in the order groups hand roles out; nobody idles."""
    normal = load_file(SCENARIOS / "b2c-normal.yaml")
    roles = {"mall_admin": 1, "buyer": 2, "supplier": 3, "warehouse": 4, "finance": 5,
             "purchasing": 6, "logistics": 7}
    seats = work.seats_for(normal, roles)
    assert set(seats) == set(normal.roles)
    assert sorted(u for holders in seats.values() for u in holders) == [1, 2, 3, 4, 5, 6, 7]
    assert all(roles[role] in holders for role, holders in seats.items())
    assert sorted(len(h) for h in seats.values()) == [1, 1, 1, 2, 2]
    # a group of two holds every role twice over: the five roles keep their holders
    pair = {role: 1 + i % 2 for i, role in enumerate(roles)}
    assert work.seats_for(normal, pair) == {r: [pair[r]] for r in normal.roles}


def test_the_library_is_read_once_and_again_when_a_file_changes(app, tmp_path):
    first = library()
    assert {s.id for s in first} >= {"b2c-normal"}
    assert library()[0] is first[0]  # not parsed again while the file is unchanged
    path = tmp_path / "mine.yaml"
    text = (SCENARIOS / "b2c-normal.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    [before] = library(tmp_path)
    path.write_text(text.replace("id: b2c-normal", "id: b2c-mine", 1), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    [after] = library(tmp_path)
    assert (before.id, after.id) == ("b2c-normal", "b2c-mine")
    path.write_text("id: [broken", encoding="utf-8")
    os.utime(path, ns=(path.stat().st_mtime_ns + 2 * 10**9,) * 2)
    assert library(tmp_path) == []  # a file that no longer loads is left out


# ---- grades ---------------------------------------------------------------------------------

def test_adjustments_change_the_final_grade_and_need_a_reason(app, english):
    teacher, classroom = _class(app, students=2)
    made = groups.form_groups(classroom, 2, seed=1)
    assignment = work.assign(classroom, load_file(SCENARIOS / "b2c-normal.yaml"), made,
                             teacher.id)
    [run] = assignment.runs
    before = final(run).score
    with pytest.raises(DomainError, match="Say why"):
        work.adjust(run, None, "5", "  ", teacher.id)
    with pytest.raises(InvalidInput, match="Points must be a number"):
        work.adjust(run, None, "a lot", "good work", teacher.id)
    work.adjust(run, None, "5", "helped the other group", teacher.id)
    student = run.seats[0].user_id
    work.adjust(run, student, "-2", "late", teacher.id)
    fin = final(run)
    assert fin.score == before + 5 and "helped the other group" in fin.comment
    assert fin.mine(student).total == fin.mine(student).points - 2
    groups_rows, student_rows = assignment_rows(assignment)
    assert len(groups_rows) == 1 and student in {r["user"].id for r in student_rows}
    assert groups_rows[0]["score"] == fin.score


def test_a_reflection_is_marked_from_0_to_100(app, english):
    teacher, classroom = _class(app, students=1)
    made = groups.form_groups(classroom, 1)
    [run] = work.assign(classroom, load_file(SCENARIOS / "b2c-normal.yaml"), made,
                        teacher.id).runs
    student = run.seats[0].user_id
    work.write_reflection(run.id, student, "  We shipped late.  ")
    with pytest.raises(InvalidInput, match="from 0 to 100"):
        work.mark_reflection(run.id, student, "120", "")
    work.mark_reflection(run.id, student, "88", "clear")
    from lab.models import Reflection
    reflection = db.session.scalar(db.select(Reflection).where(Reflection.run_id == run.id))
    assert (reflection.text, reflection.mark, reflection.comment) == \
        ("We shipped late.", 88, "clear")
