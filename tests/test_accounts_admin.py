"""Issue 12, item 1: accounts. Self-learners register on their own (no join code), the lab admin
may close self-registration (then "try a scenario now" is closed too, and a join code still
works), the lab admin's list of users (roles, classes, last login, search, pages of 50 in a
fixed number of queries) and locking an account (its sessions end at once; its login says
"locked" only after the right password; an admin locks neither themselves nor the last admin)."""
import html
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from lab.admin import users as admin_users
from lab.errors import InvalidInput
from lab.extensions import db
from lab.models import Classroom, Enrollment, User, self_registration_open
from lab.models.base import utcnow
from tests.helpers import csrf_token, login, make_user, post

EN = {"Accept-Language": "en"}
LOCKED = "This account is locked: ask your instructor or the lab's administrator."
WRONG = "Wrong username or password."


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def count_users() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(User))


def register_learner(client, username, password="longpass1", confirm=None, name=""):
    return client.post("/auth/register/learner", headers=EN, data={
        "csrf_token": csrf_token(client, "/auth/register"), "username": username,
        "name": name, "password": password, "confirm": confirm or password})


def register_student(client, number, code="CLASSCODE1"):
    return client.post("/auth/register", headers=EN, data={
        "csrf_token": csrf_token(client, "/auth/register"), "join_code": code,
        "student_no": number, "name": "Someone", "password": "pw123456",
        "confirm": "pw123456"})


def try_login(client, username, password="pw123456"):
    return client.post("/auth/login", headers=EN, data={
        "username": username, "password": password, "csrf_token": csrf_token(client)})


def a_class(code="CLASSCODE1", name="电商一班", teacher=None) -> Classroom:
    teacher = teacher or make_user("teacher", is_instructor=True)
    classroom = Classroom(name=name, instructor_id=teacher.id, join_code=code)
    db.session.add(classroom)
    db.session.commit()
    return classroom


def as_admin(app):
    make_user("boss", is_admin=True)
    return login(app.test_client(), "boss")


def admin_post(client, url, data=None):
    return post(client, url, data, headers=EN, follow_redirects=True)


def user(username) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


# ---- self-learners register on their own ----------------------------------------------------

def test_a_self_learner_registers_with_no_code_lands_on_practice_and_logs_in_again(app, client):
    page = text(client.get("/auth/register", headers=EN))
    assert "Learn on my own" in page and "Join my class with a code" in page
    response = register_learner(client, "Lin_Wei", name="林伟")
    assert response.status_code == 302 and response.location.endswith("/practice/")
    landed = client.get(response.location, headers=EN)
    assert landed.status_code == 200 and "Welcome, 林伟: your account is ready" in text(landed)
    learner = user("Lin_Wei")
    assert learner is not None and not learner.is_temporary and not learner.is_instructor
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 0
    assert learner.last_login_at is not None  # registering logs in

    post(client, "/auth/logout")
    assert client.get("/practice/").status_code == 302  # logged out
    assert try_login(client, "lin_wei", "longpass1").status_code == 302  # any case
    assert client.get("/practice/").status_code == 200


def test_a_taken_username_in_another_case_is_refused_and_creates_nothing(app, client):
    make_user("Zhang3")
    before = count_users()
    response = register_learner(client, "ZHANG3")
    assert response.status_code == 400
    assert "The username ZHANG3 is taken: choose another one." in text(response)
    assert 'id="learner-username"' in text(response) and "is-invalid" in text(response)
    assert count_users() == before
    # the form keeps its other rules (those of keeping a temporary account)
    assert register_learner(client, "ab").status_code == 400  # too short
    assert register_learner(client, "new1", confirm="different1").status_code == 400
    assert count_users() == before


def test_the_class_form_still_needs_its_code_and_the_learner_form_never_does(app, client):
    a_class()
    assert register_student(client, "2026001", code="WRONGCODE9").status_code == 400
    assert register_student(client, "2026001").status_code == 302
    assert user("2026001").student_no == "2026001"
    other = client.application.test_client()
    assert register_learner(other, "solo1").status_code == 302


# ---- the setting ------------------------------------------------------------------------------

def test_with_self_registration_closed_only_a_join_code_makes_an_account(app, client):
    a_class()
    admin = as_admin(app)
    assert self_registration_open()
    page = text(admin.get("/admin/settings", headers=EN))
    assert "Self-registration for self-learners" in page and "Close self-registration" in page
    closed = admin_post(admin, "/admin/settings", {"self_registration": "off"})
    assert "Self-registration for self-learners is closed" in text(closed)
    assert not self_registration_open()
    again = admin_post(admin, "/admin/settings", {"self_registration": "off"})
    assert "closed already: nothing was changed" in text(again)

    # the registration page: no "Learn on my own"; the class form is there
    page = text(client.get("/auth/register", headers=EN))
    assert "Learn on my own" not in page and "/auth/register/learner" not in page
    assert 'name="join_code"' in page
    # the landing page: no "Try a scenario now", and it says why
    landing = text(client.get("/", headers=EN))
    assert 'action="/auth/try"' not in landing and "Self-registration is closed" in landing
    # a learner's POST is refused, clearly, and creates nothing
    before = count_users()
    refused = register_learner(client, "sneaky1")
    assert refused.status_code == 403 and "Self-registration is closed on this lab" in text(
        refused)
    assert count_users() == before
    # try-now is refused too
    tried = client.post("/auth/try", headers=EN, data={"csrf_token": csrf_token(client, "/")},
                        follow_redirects=True)
    assert "Trying a scenario without an account is closed on this lab" in text(tried)
    assert count_users() == before
    assert client.get("/practice/").status_code == 302  # still nobody
    # a student with the class's join code still registers
    assert register_student(client, "2026002").status_code == 302
    assert count_users() == before + 1

    opened = admin_post(admin, "/admin/settings", {"self_registration": "on"})
    assert "Self-registration for self-learners is open" in text(opened)
    assert 'action="/auth/try"' in text(app.test_client().get("/", headers=EN))
    bad = admin_post(admin, "/admin/settings", {"self_registration": "maybe"})
    assert "nothing was changed" in text(bad) and self_registration_open()


# ---- locking --------------------------------------------------------------------------------

def test_a_locked_student_is_logged_out_at_once_and_told_only_after_the_right_password(app):
    student = make_user("zhang3", student_no="2026003")
    console = login(app.test_client(), "zhang3")
    assert console.get("/practice/").status_code == 200
    logged_in_at = user("zhang3").last_login_at
    admin = as_admin(app)

    locked = admin_post(admin, "/admin/users/lock", {"user": student.id})
    assert "Locked zhang3: they are logged out and cannot log in." in text(locked)
    assert user("zhang3").locked_at is not None
    # the open console stops working on its next request
    after = console.get("/practice/")
    assert after.status_code == 302 and "/auth/login" in after.location
    # the right password: "locked"; a wrong one: the ordinary message
    right = try_login(app.test_client(), "zhang3")
    assert right.status_code == 403 and LOCKED in text(right) and WRONG not in text(right)
    wrong = try_login(app.test_client(), "zhang3", "not-the-password")
    assert wrong.status_code == 401 and WRONG in text(wrong) and "locked" not in text(wrong)
    assert user("zhang3").last_login_at == logged_in_at  # no login happened
    # locking twice changes nothing, and says so
    twice = admin_post(admin, "/admin/users/lock", {"user": student.id})
    assert "zhang3 is locked already: nothing was changed." in text(twice)
    listed = text(admin.get("/admin/users?locked=1", headers=EN))
    assert "zhang3" in listed and "Locked" in listed and "Unlock zhang3" in listed

    unlocked = admin_post(admin, "/admin/users/unlock", {"user": student.id})
    assert "Unlocked zhang3: they can log in again with their password." in text(unlocked)
    assert try_login(app.test_client(), "zhang3").status_code == 302
    not_locked = admin_post(admin, "/admin/users/unlock", {"user": student.id})
    assert "zhang3 is not locked: nothing was changed." in text(not_locked)


def test_an_admin_can_lock_neither_their_own_account_nor_the_last_admin(app):
    admin = as_admin(app)
    boss = user("boss")
    refused = admin_post(admin, "/admin/users/lock", {"user": boss.id})
    assert "You cannot lock your own account: nothing was changed." in text(refused)
    assert user("boss").locked_at is None
    assert admin.get("/admin/users").status_code == 200  # still logged in
    # Two admins: one may lock the other, but never the last one who can log in.
    second = make_user("boss2", is_admin=True)
    assert "Locked boss2" in text(admin_post(admin, "/admin/users/lock", {"user": second.id}))
    boss = user("boss")
    with pytest.raises(InvalidInput) as refusal:
        admin_users.lock(user("boss2"), boss)  # boss2 is locked: boss is the last admin
    assert "last lab admin" in refusal.value.msg
    db.session.rollback()
    assert user("boss").locked_at is None


def test_a_form_naming_no_account_changes_nothing(app):
    admin = as_admin(app)
    response = admin_post(admin, "/admin/users/lock", {})
    assert response.status_code == 200 and "nothing was changed" in text(response)
    assert post(admin, "/admin/users/lock", {"user": "999999"}).status_code == 404
    assert post(admin, "/admin/users/lock", {"user": "x1"}).status_code == 404


# ---- the list of users ------------------------------------------------------------------------

def test_the_users_page_shows_roles_classes_and_last_login(app):
    teacher = make_user("teacher", is_instructor=True)
    classroom = a_class(teacher=teacher)
    student = make_user("li4", name="李四", student_no="20260417")
    db.session.add(Enrollment(classroom_id=classroom.id, user_id=student.id))
    db.session.commit()
    make_user("solo", name="Solo Learner")
    make_user("guest-abc", is_temporary=True)
    admin = as_admin(app)
    page = text(admin.get("/admin/users", headers=EN))
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r'<tr id="user-\d+"[^>]*>\s*<td class="who"[^>]*><span class="fw-semibold">([^<]+)'
        r'</span>(.*?)</tr>', page, re.S)}
    assert set(rows) == {"boss", "li4", "solo", "teacher"}  # no temporary account
    assert "Lab admin" in rows["boss"] and "Instructor" in rows["teacher"]
    assert "Student" in rows["li4"] and "电商一班" in rows["li4"] and "20260417" in rows["li4"]
    assert "Self-learner" in rows["solo"] and "电商一班" in rows["teacher"]  # teaches it
    assert "never" in rows["li4"] and "never" not in rows["boss"]  # boss logged in
    assert "Active" in rows["li4"]
    # a login shows on the page
    login(app.test_client(), "li4")
    stamp = user("li4").last_login_at
    assert stamp is not None and abs((utcnow() - stamp).total_seconds()) < 60
    row = re.search(rf'<tr id="user-{student.id}".*?</tr>',
                    text(admin.get("/admin/users", headers=EN)), re.S).group(0)
    assert "never" not in row and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row)
    # temporary accounts on request
    assert "guest-abc" in text(admin.get("/admin/users?temporary=1", headers=EN))
    # by role
    only = text(admin.get("/admin/users?role=learner", headers=EN))
    assert "solo" in only and "li4" not in only and "teacher" not in only


def test_search_finds_a_user_by_student_number_name_or_username_in_any_case(app):
    make_user("wang5", name="王五", student_no="2026X0555")
    make_user("zhao6", name="Zhao Liu", student_no="20260666")
    admin = as_admin(app)
    for typed in ("x0555", "王五", "WANG", "２０２６Ｘ０５５５"):  # full-width too
        page = text(admin.get("/admin/users", query_string={"q": typed}, headers=EN))
        assert "wang5" in page and "zhao6" not in page, typed
    page = text(admin.get("/admin/users", query_string={"q": "liu"}, headers=EN))
    assert "zhao6" in page and "wang5" not in page
    none = text(admin.get("/admin/users", query_string={"q": "100%_"}, headers=EN))
    assert "No account matches this search." in none


@contextmanager
def statements():
    seen = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _users_page_queries(admin) -> int:
    with statements() as seen:
        response = admin.get("/admin/users", headers=EN)
    assert response.status_code == 200
    return len(seen)


def test_the_users_page_asks_a_fixed_number_of_queries_and_pages_by_50(app):
    classroom = a_class()
    other = a_class("CLASSCODE2", "电商二班", teacher=user("teacher"))
    admin = as_admin(app)

    def add_students(first, last):
        for n in range(first, last):
            student = make_user(f"s{n:03d}", student_no=f"2026{n:04d}")
            db.session.add(Enrollment(classroom_id=classroom.id, user_id=student.id))
            if n % 2:
                db.session.add(Enrollment(classroom_id=other.id, user_id=student.id))
        db.session.commit()
    add_students(0, 10)
    few = _users_page_queries(admin)
    add_students(10, 60)
    many = _users_page_queries(admin)
    assert few == many, (few, many)
    assert few <= 6, few
    page = text(admin.get("/admin/users", headers=EN))
    assert page.count('<tr id="user-') == 50 and "62 accounts" in page
    assert "page 1 of 2" in page
    second = text(admin.get("/admin/users?page=2", headers=EN))
    assert second.count('<tr id="user-') == 12
    beyond = text(admin.get("/admin/users?page=99", headers=EN))
    assert beyond.count('<tr id="user-') == 12  # the last page
    assert text(admin.get("/admin/users?page=abc", headers=EN)).count('<tr id="user-') == 50


# ---- who may open the admin's pages ------------------------------------------------------------

def test_only_a_lab_admin_opens_the_admin_pages_or_sends_their_forms(app):
    teacher = make_user("teacher", is_instructor=True)
    classroom = a_class(teacher=teacher)
    student = make_user("s1")
    db.session.add(Enrollment(classroom_id=classroom.id, user_id=student.id))
    db.session.commit()
    make_user("learner")
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
    assert {r.endpoint for r in rules} >= {"admin.users", "admin.lock", "admin.unlock",
                                           "admin.settings"}
    forms = {"admin.lock": {"user": student.id}, "admin.unlock": {"user": student.id},
             "admin.settings": {"self_registration": "off"}}
    for name in ("teacher", "s1", "learner"):
        client = login(app.test_client(), name)
        for rule in rules:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method == "GET":
                    response = client.get(rule.rule, headers=EN)
                else:
                    response = post(client, rule.rule, forms.get(rule.endpoint), headers=EN)
                assert response.status_code == 403, (name, method, rule.rule)
                assert "Only the lab's administrators may open this page." in text(response)
    anonymous = app.test_client()
    for rule in rules:
        if "GET" in rule.methods:
            response = anonymous.get(rule.rule)
            assert response.status_code == 302 and "/auth/login" in response.location
        if "POST" in rule.methods:
            response = post(anonymous, rule.rule, forms.get(rule.endpoint))
            assert response.status_code == 302 and "/auth/login" in response.location
    assert user("s1").locked_at is None and self_registration_open()
    # the top bar shows the admin's links to admins only
    assert 'href="/admin/users"' not in text(login(app.test_client(), "teacher").get(
        "/classroom/", headers=EN))
    admin = as_admin(app)
    bar = text(admin.get("/classroom/", headers=EN))
    assert 'href="/admin/users"' in bar and 'href="/admin/settings"' in bar
