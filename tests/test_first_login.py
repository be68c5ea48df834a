"""A roster's accounts: the student logs in with the password on their slip, must choose their
own before any other page opens, and the credential sheet then no longer shows it; the
instructor can give a student a new one-time password (issue 12 item 1)."""
import io
import re

import pytest

from lab.extensions import db
from lab.models import Classroom, Enrollment, User
from tests.helpers import csrf_token, login, make_user, post

EN = {"Accept-Language": "en"}


@pytest.fixture
def sheet(app):
    """An instructor's class with two students imported from a roster; the instructor's
    browser."""
    make_user("teacher", is_instructor=True)
    client = login(app.test_client(), "teacher")
    post(client, "/classroom/new", {"name": "电商一班"})
    classroom = db.session.scalar(db.select(Classroom))
    data = b"student number,name\n1001,Ann Lee\n1002,Bo Wu\n"
    response = post(client, f"/classroom/{classroom.id}/roster",
                    {"roster": (io.BytesIO(data), "roster.csv")},
                    content_type="multipart/form-data")
    assert response.status_code == 302
    return client, classroom


def slip_password(client, classroom, username) -> str:
    """What the credential sheet shows as the student's password."""
    page = client.get(f"/classroom/{classroom.id}/credentials", headers=EN).get_data(as_text=True)
    slip = page.split(f'<code class="fs-6">{username}</code>', 1)[1].split("credential", 1)[0]
    return re.search(r'Password: (?:<code class="fs-6">([^<]*)</code>|<span[^>]*>([^<]*)</span>)',
                     slip).group(1, 2)


def raw_login(client, username, password):
    return client.post("/auth/login", data={"username": username, "password": password,
                                            "csrf_token": csrf_token(client)})


def change(client, current, new):
    return post(client, "/auth/password", {"current": current, "password": new,
                                           "confirm": new}, headers=EN)


def enrollment_of(username) -> Enrollment:
    return db.session.scalar(db.select(Enrollment).join(User).where(User.username == username))


def test_a_roster_student_chooses_their_own_password_before_anything_else(app, sheet):
    teacher, classroom = sheet
    given, changed = slip_password(teacher, classroom, "1001")
    assert given and len(given) == 8 and changed is None
    student = app.test_client()
    response = raw_login(student, "1001", given)
    assert response.status_code == 302 and response.location.endswith("/auth/password")
    for url in ("/", "/practice/", "/run/1/buyer/", "/live/1", f"/classroom/{classroom.id}"):
        response = student.get(url)
        assert response.status_code == 302, url
        assert response.location.endswith("/auth/password"), url
    response = post(student, "/auth/join", {"join_code": classroom.join_code})
    assert response.status_code == 303 and response.location.endswith("/auth/password")
    page = student.get("/auth/password", headers=EN).get_data(as_text=True)
    assert "Choose your own password before you start" in page
    for sheet_url in re.findall(r'<link rel="stylesheet" href="([^"]+)"', page):
        assert student.get(sheet_url).status_code == 200, sheet_url  # the page is styled
    assert post(student, "/lang/zh", {"next": "/auth/password"}).status_code == 302
    assert change(student, "wrong-password", "mine-12345").status_code == 400
    refused = change(student, given, given)
    # (in Chinese: the language was switched above)
    assert refused.status_code == 400 and "不能与当前密码相同" in refused.get_data(as_text=True)
    assert slip_password(teacher, classroom, "1001") == (given, None)  # nothing changed yet

    response = change(student, given, "mine-12345")
    assert response.status_code == 302 and response.location.endswith("/")
    assert student.get("/").status_code == 200
    assert "Choose your own password" not in student.get(
        "/auth/password", headers=EN).get_data(as_text=True)
    assert slip_password(teacher, classroom, "1001") == (None, "(changed by the student)")
    assert given not in teacher.get(f"/classroom/{classroom.id}/credentials").get_data(
        as_text=True)
    assert slip_password(teacher, classroom, "1002")[0]  # the other student's is still there
    assert raw_login(app.test_client(), "1001", given).status_code == 401
    again = raw_login(app.test_client(), "1001", "mine-12345")
    assert again.status_code == 302 and again.location.endswith("/")


def test_logging_out_is_open_before_the_password_is_changed(app, sheet):
    teacher, classroom = sheet
    given, _ = slip_password(teacher, classroom, "1002")
    student = app.test_client()
    raw_login(student, "1002", given)
    response = post(student, "/auth/logout", {})
    assert response.status_code == 302 and response.location.endswith("/auth/login")
    assert "/auth/login" in student.get("/auth/password").location  # logged out


def reset(client, classroom, username, key=None):
    data = {"request_key": key} if key else {}
    return post(client, f"/classroom/{classroom.id}/credentials/"
                        f"{enrollment_of(username).id}/reset", data, headers=EN)


def test_the_instructor_gives_a_student_a_new_one_time_password(app, sheet):
    teacher, classroom = sheet
    given, _ = slip_password(teacher, classroom, "1001")
    student = login(app.test_client(), "1001", given)  # chooses their own (helpers.login)
    assert student.get("/").status_code == 200
    sheet_page = teacher.get(f"/classroom/{classroom.id}/credentials", headers=EN)
    assert "Reset password" in sheet_page.get_data(as_text=True)
    assert "data-confirm=" in sheet_page.get_data(as_text=True)

    response = reset(teacher, classroom, "1001", key="reset-key-0001")
    assert response.status_code == 302
    shown = teacher.get(response.location, headers=EN).get_data(as_text=True)
    new = re.search(r"New password of Ann Lee \(1001\): (\w{8})\.", shown).group(1)
    assert new != given
    again = teacher.get(f"/classroom/{classroom.id}/credentials", headers=EN).get_data(
        as_text=True)
    assert "New password of" not in again  # the message once; the slip until it is changed
    assert slip_password(teacher, classroom, "1001") == (new, None)
    # A double press (the same form sent twice) makes no second password.
    reset(teacher, classroom, "1001", key="reset-key-0001")
    assert slip_password(teacher, classroom, "1001") == (new, None)

    assert "/auth/login" in student.get("/practice/").location  # the session ended
    response = raw_login(student, "1001", new)
    assert response.status_code == 302 and response.location.endswith("/auth/password")
    assert student.get("/").location.endswith("/auth/password")
    assert change(student, new, "second-own-1").status_code == 302
    assert student.get("/").status_code == 200
    assert slip_password(teacher, classroom, "1001") == (None, "(changed by the student)")


def test_only_the_class_instructor_resets_a_password(app, sheet):
    teacher, classroom = sheet
    given, _ = slip_password(teacher, classroom, "1001")
    make_user("teacher2", is_instructor=True)
    other = login(app.test_client(), "teacher2")
    post(other, "/classroom/new", {"name": "别的班"})
    theirs = db.session.scalar(db.select(Classroom).where(Classroom.name == "别的班"))
    assert reset(other, classroom, "1001").status_code == 404
    # Their own class's URL with a student of another class: not found either.
    url = f"/classroom/{theirs.id}/credentials/{enrollment_of('1001').id}/reset"
    assert post(other, url, {}).status_code == 404
    student = login(app.test_client(), "1002", slip_password(teacher, classroom, "1002")[0])
    assert reset(student, classroom, "1001").status_code in (403, 404)
    assert slip_password(teacher, classroom, "1001") == (given, None)  # unchanged
    assert raw_login(app.test_client(), "1001", given).status_code == 302
