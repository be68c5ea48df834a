"""Whose accounts a roster touches (issue 13): only the importing class's own students.

A roster creates new students and updates the name and e-mail of the class's students; a
student number that is already an account elsewhere is never changed by it: a student of the
same instructor's other class is enrolled with the account they have, anything else is left out
and listed with its line. Refused uploads and imports with lines to read answer 303 to a page
kept on the server (post/redirect/get; the session cookie stays small)."""
import html
import io
import re

import pytest

from lab.extensions import db
from lab.join_codes import shown
from lab.models import Classroom, Enrollment, UploadReport, User
from tests.helpers import login, make_user, post

EN = {"Accept-Language": "en"}


def instructor(app, username, class_name):
    make_user(username, is_instructor=True, name=username.title())
    client = app.test_client()
    login(client, username)
    post(client, "/classroom/new", {"name": class_name})
    return client, db.session.scalar(db.select(Classroom).where(Classroom.name == class_name))


def new_class(client, name):
    post(client, "/classroom/new", {"name": name})
    return db.session.scalar(db.select(Classroom).where(Classroom.name == name))


def upload(client, classroom, text: str):
    return post(client, f"/classroom/{classroom.id}/roster",
                {"roster": (io.BytesIO(text.encode()), "roster.csv")},
                content_type="multipart/form-data", headers=EN)


def page_after(client, response) -> str:
    assert response.status_code == 303, response.status_code
    page = client.get(response.headers["Location"], headers=EN)
    assert page.status_code == 200
    return html.unescape(page.get_data(as_text=True))


def user(username) -> User:
    db.session.expire_all()
    return db.session.scalar(db.select(User).where(User.username == username))


def enrolled(classroom) -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(db.select(User.username).join(Enrollment).where(
        Enrollment.classroom_id == classroom.id)))


def password_of(username) -> str:
    return db.session.scalar(db.select(Enrollment.initial_password).join(User).where(
        User.username == username, Enrollment.initial_password.is_not(None)))


@pytest.fixture
def two_instructors(app):
    a, class_a = instructor(app, "teachera", "A班")
    b, class_b = instructor(app, "teacherb", "B班")
    assert upload(a, class_a, "学号,姓名,邮箱\n20260001,王芳,wf@uni.edu\n20260002,李雷,\n") \
        .status_code == 302
    return a, class_a, b, class_b


def test_another_instructors_roster_cannot_rewrite_or_enrol_their_student(two_instructors, app):
    a, class_a, b, class_b = two_instructors
    password = password_of("20260001")
    before = user("20260001")
    hash_before = before.password_hash
    r = upload(b, class_b, "学号,姓名,邮箱\n20260001,Mallory,evil@example.com\n20260099,新生,\n")
    page = page_after(b, r)
    assert ("line 2: student number 20260001 is already the login of a student outside your "
            "classes: this line was not imported and that account was not changed") in page
    assert f"can join this class with its join code: {shown(class_b.join_code)}" in page
    assert "1 line of roster.csv was not imported (below)." in page
    student = user("20260001")
    assert (student.name, student.email, student.student_no, student.password_hash) == (
        "王芳", "wf@uni.edu", "20260001", hash_before)
    assert enrolled(class_b) == {"20260099"}  # the rest of the roster was imported
    assert enrolled(class_a) == {"20260001", "20260002"}
    login(app.test_client(), "20260001", password)  # the student's login still works
    assert "Mallory" not in b.get(f"/classroom/{class_b.id}").get_data(as_text=True)


def test_a_number_differing_only_in_case_is_the_same_account(two_instructors):
    a, class_a, b, class_b = two_instructors
    upload(a, class_a, "学号,姓名\nS2026001,张三\n")
    page = page_after(b, upload(b, class_b, "学号,姓名\ns2026001,Mallory\n"))
    assert "student number s2026001 is already the login of a student outside your" in page
    assert user("S2026001").name == "张三" and enrolled(class_b) == set()


def test_the_same_student_in_a_second_class_of_the_same_instructor_keeps_their_account(
        two_instructors):
    a, class_a, _, _ = two_instructors
    password = password_of("20260001")
    hash_before = user("20260001").password_hash
    second = new_class(a, "A二班")
    page = page_after(a, upload(a, second, "学号,姓名\n20260001,王芳芳\n20260003,赵敏\n"))
    assert ("line 2: 20260001 王芳, of your class A班, was enrolled with the account they have "
            "(same login and password; name and e-mail unchanged).") in page
    assert "Roster imported: 1 new students, 0 updated." in page
    assert "1 student of your other classes enrolled with the account they have." in page
    assert enrolled(second) == {"20260001", "20260003"}
    student = user("20260001")
    assert (student.name, student.password_hash) == ("王芳", hash_before)
    sheet = a.get(f"/classroom/{second.id}/credentials", headers=EN).get_data(as_text=True)
    assert "(unchanged: as before)" in sheet and password not in sheet


def test_a_reimport_keeps_the_name_of_a_student_another_instructor_also_teaches(
        two_instructors):
    a, class_a, b, class_b = two_instructors
    db.session.add(Enrollment(classroom_id=class_b.id, user_id=user("20260002").id))  # joined
    db.session.commit()
    page = page_after(a, upload(a, class_a, "学号,姓名\n20260001,王芳华\n20260002,李雷雷\n"))
    assert "20260002 李雷 is also in another instructor's class: their name and e-mail were " \
           "kept as they are (the roster says 李雷雷)." in page
    assert user("20260001").name == "王芳华"  # only in this instructor's class: updated
    assert user("20260002").name == "李雷"


@pytest.mark.parametrize("number", ["teacherb", "loner1"])
def test_an_instructor_or_a_classless_account_is_left_out(two_instructors, number):
    a, class_a, _, _ = two_instructors
    if number == "loner1":
        make_user("loner1", name="Self Learner")  # registered, in no class
    name_before = user(number).name
    page = page_after(a, upload(a, class_a, f"学号,姓名\n{number},Renamed\n20260005,新\n"))
    assert f"line 2: student number {number} is" in page and "was not imported" in page
    assert user(number).name == name_before and number not in enrolled(class_a)
    assert "20260005" in enrolled(class_a)


def test_the_roster_rule_is_on_the_class_page(two_instructors):
    a, class_a, _, _ = two_instructors
    page = a.get(f"/classroom/{class_a.id}", headers=EN).get_data(as_text=True)
    assert "It never changes another class’s accounts" in page


def test_a_refused_roster_redirects_to_its_problems_and_a_reload_sends_nothing(two_instructors,
                                                                               app):
    a, class_a, b, class_b = two_instructors
    lines = "".join(f"x{i}!,名{i}\n" for i in range(500))  # 500 invalid student numbers
    r = upload(a, class_a, "学号,姓名\n" + lines)
    assert r.status_code == 303
    cookie = a.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None and len(cookie.value) < 1024  # the list is kept on the server
    url = r.headers["Location"]
    for _ in range(2):  # a reload shows the same page and changes nothing
        page = a.get(url, headers=EN).get_data(as_text=True)
        assert len(re.findall(r"line \d+: the student number x\d+! is not valid", page)) == 500
    assert enrolled(class_a) == {"20260001", "20260002"}
    assert db.session.query(UploadReport).count() == 1
    assert b.get(url).status_code == 404  # another instructor's class
    # the report is the class's and the uploader's: another of A's classes does not show it
    other = new_class(a, "A三班")
    other_url = url.replace(f"/classroom/{class_a.id}/", f"/classroom/{other.id}/")
    assert a.get(other_url).status_code == 302


def test_the_same_roster_imported_four_times_at_once_makes_each_student_once(app):
    """Four imports of one roster at the same moment (a double click, two tabs): each student
    gets one account and one enrolment, and no import fails."""
    import threading

    from lab.classroom import rosters
    _, classroom = instructor(app, "teachera", "A班")
    class_id = classroom.id
    rows, problems = rosters.parse("r.csv", ("学号,姓名\n" + "".join(
        f"2026{i:04d},学生{i}\n" for i in range(30))).encode())
    assert problems == []
    barrier, outcomes = threading.Barrier(4), []

    def importer():
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(rosters.import_roster(db.session.get(Classroom, class_id), rows))
            except Exception as error:  # noqa: BLE001 - any failure is the test's answer
                outcomes.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=importer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == 4 and all(isinstance(o, rosters.Imported) for o in outcomes), outcomes
    assert sum(o.created for o in outcomes) == 30
    db.session.expire_all()
    assert db.session.query(User).filter(User.username.like("2026%")).count() == 30
    assert len(enrolled(classroom)) == 30
