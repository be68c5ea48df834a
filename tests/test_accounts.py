"""Issue 13, item 4: accounts.

One username rule (case, spacing and width do not make a second account), rate limits on the
doors where guessing pays (login, registration and joining with a code, the current password),
a login that checks one password hash whether or not the account exists, sessions that end
for good at logout or a password change (a copied cookie too), join codes that cannot be
guessed and can be rotated, and form tokens that expire with a clear message."""
import re
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.helpers import csrf_token, login, make_user, post
from lab import join_codes
from lab.extensions import db, limiter
from lab.models import Classroom, Enrollment, User, find_user, normalize_username

EN = {"Accept-Language": "en"}


def a_class(code="CLASSCODE1") -> Classroom:
    teacher = make_user("teacher", is_instructor=True)
    classroom = Classroom(name="电商一班", instructor_id=teacher.id, join_code=code)
    db.session.add(classroom)
    db.session.commit()
    return classroom


def register(client, number, code="CLASSCODE1", password="pw123456"):
    return client.post("/auth/register", headers=EN, data={
        "csrf_token": csrf_token(client, "/auth/register"), "join_code": code,
        "student_no": number, "name": "Someone", "password": password, "confirm": password})


def try_login(client, username, password="pw123456"):
    return client.post("/auth/login", headers=EN, data={
        "username": username, "password": password, "csrf_token": csrf_token(client)})


def users() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


# ---- one username rule ----------------------------------------------------------------------

def test_the_rule_ignores_case_spacing_and_width():
    assert normalize_username("  BUYER ") == "buyer"
    assert normalize_username("ｂｕｙｅｒ") == "buyer"  # full-width, as a Chinese IME types it
    assert normalize_username("Straße") == normalize_username("STRASSE")
    assert normalize_username("S2026０１") == "s202601"


@pytest.mark.parametrize("impostor", ["BUYER", " Buyer", "ｂｕｙｅｒ"])
def test_buyer_cannot_be_locked_out_by_registering_BUYER(app, client, impostor):
    a_class()
    make_user("buyer", password="buyers-password")
    response = register(client, impostor)
    assert response.status_code == 400
    assert "registered already" in response.get_data(as_text=True)
    assert users() == 2  # the teacher and buyer: no second account
    assert try_login(app.test_client(), "buyer", "buyers-password").status_code == 302


@pytest.mark.parametrize("typed", ["BUYER", "  buyer ", "ｂｕｙｅｒ"])
def test_login_finds_the_account_whatever_the_case_spacing_or_width(app, typed):
    make_user("Buyer", password="buyers-password")
    assert try_login(app.test_client(), typed, "buyers-password").status_code == 302


def test_the_database_refuses_a_second_account_with_the_same_normalized_name(app):
    make_user("buyer")
    db.session.add(User(username="BUYER", password_hash="x"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert find_user("Buyer").username == "buyer"


def test_a_full_width_student_number_registers_as_ascii(app, client):
    a_class()
    assert register(client, "２０２６００１").status_code == 302
    assert find_user("2026001").student_no == "2026001"


def test_an_admin_cannot_create_an_instructor_named_like_an_existing_account(app, client):
    make_user("root", is_admin=True, password="admin-password")
    make_user("teacher", is_instructor=True)
    login(client, "root", "admin-password")
    response = post(client, "/classroom/instructors", {
        "username": "TEACHER", "password": "long-enough", "name": "x"}, headers=EN)
    assert response.status_code == 303
    assert users() == 2


def test_the_migration_keys_existing_accounts_and_renames_a_later_case_twin(app):
    """A PostgreSQL database from before the rule may hold `buyer` and `BUYER`: the older one
    keeps the name (and its login), the later one is renamed <name>-<id>."""
    from sqlalchemy import inspect, text
    runner = app.test_cli_runner()

    def flask_db(*args):
        result = runner.invoke(args=["db", *args])
        assert result.exit_code == 0, (result.output, result.exception)

    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    flask_db("upgrade", "c7d4e2a9f310")  # the schema before the rule
    with db.engine.begin() as conn:
        for name in ("buyer", "BUYER", "Sales"):
            conn.execute(text(
                "INSERT INTO \"user\" (username, password_hash, name, is_instructor, is_admin, "
                "created_at) VALUES (:n, 'x', :n, false, false, CURRENT_TIMESTAMP)"), {"n": name})
    flask_db("upgrade", "e5b9d3c1a2f4")
    with db.engine.connect() as conn:
        rows = conn.execute(text('SELECT id, username, username_key, session_generation '
                                 'FROM "user" ORDER BY id')).all()
    assert [tuple(r) for r in rows] == [(1, "buyer", "buyer", 0), (2, "BUYER-2", "buyer-2", 0),
                                        (3, "Sales", "sales", 0)]
    assert any(ix["unique"] and ix["column_names"] == ["username_key"]
               for ix in inspect(db.engine).get_indexes("user"))
    flask_db("upgrade", "heads")  # leave the schema as the other tests expect it


# ---- one password check whether or not the account exists ---------------------------------

def test_an_unknown_username_costs_one_password_check_like_a_wrong_password(app, monkeypatch):
    """No timing: the login checks exactly one hash, made with the lab's own method, whether
    the username exists or not."""
    import lab.models.user as accounts
    checked = []
    real = accounts.check_password_hash

    def spy(pwhash, password):
        checked.append(pwhash.split("$")[0])  # the hash method and its parameters
        return real(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", spy)
    method = make_user("buyer", password="buyers-password").password_hash.split("$")[0]
    assert try_login(app.test_client(), "buyer", "wrong-password").status_code == 401
    assert checked == [method]
    checked.clear()
    response = try_login(app.test_client(), "nobody-has-this-name", "wrong-password")
    assert response.status_code == 401
    assert checked == [method]  # the dummy hash, as costly as a real one
    assert "Wrong username or password." in response.get_data(as_text=True)


# ---- rate limits ----------------------------------------------------------------------------

@pytest.fixture
def limits_on(app):
    """This app with its rate limits on (tests run without them), small enough to reach."""
    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                      LOGIN_LIMIT_PER_ACCOUNT="3 per minute",
                      LOGIN_LIMIT_PER_ADDRESS="8 per minute",
                      JOIN_CODE_LIMIT_PER_ADDRESS="3 per minute",
                      PASSWORD_LIMIT_PER_ACCOUNT="3 per minute")
    limiter.init_app(app)
    yield app
    limiter.reset()


def test_failed_logins_are_stopped_with_a_clear_message_and_others_still_log_in(limits_on):
    make_user("buyer", password="buyers-password")
    make_user("sales", password="sales-password")
    guesser = limits_on.test_client()
    for guess in ("123456", "password", "buyer123"):
        assert try_login(guesser, "buyer", guess).status_code == 401
    refused = try_login(guesser, "BUYER", "buyers-password")  # even the right one, any case
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Too many failed logins" in page and "Wait a minute" in page
    assert refused.headers.get("Retry-After")
    # Another student on the same computer (address) logs in, and successes never count.
    for _ in range(5):
        assert try_login(limits_on.test_client(), "sales", "sales-password").status_code == 302


def test_failed_logins_from_one_address_are_stopped_across_accounts(limits_on):
    guesser = limits_on.test_client()
    for n in range(8):
        assert try_login(guesser, f"student{n}", "x").status_code == 401
    assert try_login(guesser, "student99", "x").status_code == 429


def test_wrong_join_codes_are_stopped_even_before_the_right_one(limits_on):
    a_class("RIGHTCODE2")
    client = limits_on.test_client()
    for guess in ("AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC"):
        assert register(client, "S1", guess).status_code == 400
    refused = register(client, "S1", "RIGHTCODE2")
    assert refused.status_code == 429 and "Too many wrong join codes" in refused.get_data(
        as_text=True)
    assert find_user("S1") is None


def test_joining_another_class_counts_wrong_codes_too(limits_on):
    a_class("RIGHTCODE2")
    make_user("s1")
    client = login(limits_on.test_client(), "s1")
    for guess in ("AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC"):
        assert post(client, "/auth/join", {"join_code": guess}).status_code == 303
    assert post(client, "/auth/join", {"join_code": "RIGHTCODE2"}).status_code == 429
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 0


def test_wrong_current_passwords_are_stopped(limits_on):
    make_user("dora", password="old-password")
    client = login(limits_on.test_client(), "dora", "old-password")

    def change(current):
        return client.post("/auth/password", headers=EN, data={
            "csrf_token": csrf_token(client, "/auth/password"), "current": current,
            "password": "new-password", "confirm": "new-password"})

    for guess in ("a-guess-1", "a-guess-2", "a-guess-3"):
        assert change(guess).status_code == 400
    assert change("old-password").status_code == 429


def test_tests_run_without_limits_and_the_lab_counts_them_in_redis_when_configured(
        app, monkeypatch, tmp_path):
    from lab.config import from_environment
    assert app.config["RATELIMIT_ENABLED"] is False  # TESTING turns them off by default
    for name in ("RATELIMIT_ENABLED", "RATELIMIT_STORAGE_URI", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    config = from_environment(str(tmp_path))
    assert config["RATELIMIT_ENABLED"] is True and config["RATELIMIT_STORAGE_URI"] == "memory://"
    monkeypatch.setenv("REDIS_URL", "redis://:redis-pw@cache.example:6379/0")
    assert from_environment(str(tmp_path))["RATELIMIT_STORAGE_URI"] == \
        "redis://:redis-pw@cache.example:6379/0"
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://limits.example:6379/1")
    assert from_environment(str(tmp_path))["RATELIMIT_STORAGE_URI"] == \
        "redis://limits.example:6379/1"


# ---- sessions end for good ------------------------------------------------------------------

def copy_session(app, client):
    """A second browser holding a copy of this client's session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def logged_in(client) -> bool:
    return client.get("/auth/password").status_code == 200


def test_a_session_cookie_copied_before_logout_is_refused_after_it(app, client):
    make_user("buyer")
    login(client, "buyer")
    thief = copy_session(app, client)
    assert logged_in(thief)
    assert post(client, "/auth/logout").status_code == 302
    assert not logged_in(thief)
    assert not logged_in(client)
    login(client, "buyer")  # logging in again works, and the old copy stays dead
    assert logged_in(client) and not logged_in(thief)


def test_changing_the_password_ends_every_other_session_but_this_one(app, client):
    make_user("buyer", password="old-password")
    login(client, "buyer", "old-password")
    laptop = login(app.test_client(), "buyer", "old-password")
    thief = copy_session(app, client)
    response = client.post("/auth/password", data={
        "csrf_token": csrf_token(client, "/auth/password"), "current": "old-password",
        "password": "new-password", "confirm": "new-password"})
    assert response.status_code == 302
    assert logged_in(client)
    assert not logged_in(laptop) and not logged_in(thief)


def test_a_session_from_before_this_version_must_log_in_again(app, client):
    """Sessions used to hold the bare user id: they carry no generation, so they are refused."""
    user = make_user("buyer")
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    assert not logged_in(client)


# ---- join codes -----------------------------------------------------------------------------

def new_class(client, name="电商二班") -> Classroom:
    assert post(client, "/classroom/new", {"name": name}).status_code == 302
    return db.session.scalar(select(Classroom).where(Classroom.name == name))


def test_a_new_class_gets_a_long_code_of_unmistakable_characters(app, client):
    make_user("teacher", is_instructor=True)
    login(client, "teacher")
    codes = {new_class(client, f"班{n}").join_code for n in range(5)}
    assert len(codes) == 5
    for code in codes:
        assert len(code) >= 10 and set(code) <= set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")
        assert not set(code) & set("0O1IL")
    assert len(join_codes.ALPHABET) ** join_codes.LENGTH > 10 ** 14


def test_students_type_the_code_as_they_see_it_or_sloppily(app, client):
    make_user("teacher", is_instructor=True)
    login(client, "teacher")
    code = new_class(client).join_code
    page = client.get("/classroom/1", headers=EN).get_data(as_text=True)
    shown = f"{code[:5]}-{code[5:]}"
    assert shown in page  # in two groups of five
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in code.lower())
    for n, typed in enumerate((shown, shown.lower(), f" {code[:5]} {code[5:]} ", full_width)):
        assert register(app.test_client(), f"S{n}", typed).status_code == 302, typed
    assert len(db.session.get(Classroom, 1).enrollments) == 4


def test_the_instructor_rotates_a_leaked_code(app, client):
    make_user("teacher", is_instructor=True)
    login(client, "teacher")
    classroom = new_class(client)
    old = classroom.join_code
    assert register(app.test_client(), "S1", old).status_code == 302
    page = client.get(f"/classroom/{classroom.id}", headers=EN).get_data(as_text=True)
    assert f'action="/classroom/{classroom.id}/join-code"' in page
    response = post(client, f"/classroom/{classroom.id}/join-code", headers=EN,
                    follow_redirects=True)
    db.session.refresh(classroom)
    new = classroom.join_code
    assert new != old and len(new) == 10
    assert f"{new[:5]}-{new[5:]}" in response.get_data(as_text=True)
    refused = register(app.test_client(), "S2", old)
    assert refused.status_code == 400 and "No class has this join code" in refused.get_data(
        as_text=True)
    assert register(app.test_client(), "S3", new).status_code == 302
    assert {e.user.username for e in classroom.enrollments} == {"S1", "S3"}  # S1 stays


def test_only_the_class_s_instructor_rotates_its_code(app, client):
    make_user("teacher", is_instructor=True)
    make_user("other", is_instructor=True)
    make_user("student")
    login(client, "teacher")
    classroom = new_class(client)
    old = classroom.join_code
    for who in ("other", "student"):
        response = post(login(app.test_client(), who), f"/classroom/{classroom.id}/join-code")
        assert response.status_code in (403, 404)
    db.session.refresh(classroom)
    assert classroom.join_code == old
    assert post(client, f"/classroom/{classroom.id}/join-code").status_code == 302  # its own
    db.session.refresh(classroom)
    assert classroom.join_code != old


# ---- form tokens expire, with a message that says what to do ---------------------------------

def test_a_form_left_open_for_a_class_still_works_and_one_left_overnight_expires(
        app, client, monkeypatch):
    import itsdangerous.timed
    make_user("dora", password="old-password")
    login(client, "dora", "old-password")
    token = csrf_token(client, "/auth/password")
    assert 3 * 3600 <= app.config["WTF_CSRF_TIME_LIMIT"] <= 12 * 3600

    def send_after(hours):
        later = time.time() + hours * 3600
        monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: later))
        return client.post("/auth/password", headers=EN, data={
            "csrf_token": token, "current": "wrong-password", "password": "new-password",
            "confirm": "new-password"})

    assert send_after(2.5).status_code == 400  # judged on its content: the token was fine
    assert "This is not your current password" in send_after(2.5).get_data(as_text=True)
    expired = send_after(13)
    page = expired.get_data(as_text=True)
    assert expired.status_code == 400 and re.search(r"expired.*Reload the page", page)
