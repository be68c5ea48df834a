"""Issue 14, items 1 and 2: the first page and the address run.py prints.

An anonymous visitor lands on a page that says what the lab is and for whom, with the three ways
in (a class code, an instructor's login, a self-learner's "try a scenario now"); /login and
/register reach the real pages. "Try a scenario now" makes a temporary account with a practice
run and logs it in (rate limited per address); the account says it is temporary and can be kept;
a day later it is deleted with all it owns, lazily and with `lab cleanup`. And `python run.py`
with PORT set prints the address it really serves."""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from lab.auth import temporary
from lab.extensions import db, limiter
from lab.models import (Classroom, Enrollment, Event, FormSubmission, Run, Seat, User,
                        find_user)
from lab.models.base import utcnow
from lab.runs import scenario_of
from tests.helpers import act, csrf_token, login, make_user, post, start_run

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh"}
ROOT = Path(__file__).resolve().parent.parent


def _text(response) -> str:
    return response.get_data(as_text=True)


def try_now(client, headers=EN):
    return client.post("/auth/try", headers=headers,
                       data={"csrf_token": csrf_token(client, "/")})


def temporaries() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(select(User).where(User.is_temporary.is_(True))))


# ---- the landing page -----------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_anonymous_visitor_lands_on_a_page_that_says_what_the_lab_is(client, lang):
    response = client.get("/", headers={"Accept-Language": lang})
    assert response.status_code == 200
    page = _text(response)
    with force_locale(lang):
        said = [gettext("E-commerce Simulation Lab"), gettext("Three ways in"),
                gettext("Students in a class"), gettext("Instructors"), gettext("Self-learners"),
                gettext("Join a class with a code"), gettext("Instructor log in"),
                gettext("Try a scenario now"), gettext("Finance department")]
    for text in said:
        assert text in page, text
    if lang == "zh":
        assert 'lang="zh-CN"' in page and "电子商务模拟实训实验室" in page and "财务部" in page
    else:
        assert "plays one of its departments" in page
    # The three ways in are real doors: the registration with a code, the login, try now.
    assert 'href="/auth/register"' in page and 'href="/auth/login"' in page
    assert page.count('action="/auth/try"') == 2
    assert client.get("/auth/register").status_code == 200


def test_logged_in_people_keep_their_home_page(app, client):
    make_user("student")
    make_user("teacher", is_instructor=True)
    login(client, "student")
    page = _text(client.get("/", headers=EN))
    assert "My home" in page and "Try a scenario now" not in page
    teacher = login(app.test_client(), "teacher")
    assert teacher.get("/").location.endswith("/classroom/")


@pytest.mark.parametrize("typed, real", [("/login", "/auth/login"),
                                         ("/register", "/auth/register")])
def test_typed_login_and_register_reach_the_real_pages_keeping_next(client, typed, real):
    response = client.get(typed + "?next=/practice/")
    assert response.status_code == 302
    assert response.location == real + "?next=/practice/"
    assert client.get(typed, follow_redirects=True).status_code == 200


# ---- try a scenario now ---------------------------------------------------------------------

def test_try_now_makes_a_temporary_account_with_a_practice_run_and_logs_it_in(app, client):
    response = try_now(client)
    assert response.status_code == 303
    (user,) = temporaries()
    run = db.session.scalar(select(Run).where(Run.owner_id == user.id))
    assert run.kind == "solo" and run.status == "running"
    assert run.scenario_slug == temporary.TRY_SCENARIO
    used = {step.role for step in scenario_of(run).steps}
    assert {seat.role for seat in run.seats} == used
    assert {seat.user_id for seat in run.seats} == {user.id}
    first = scenario_of(run).steps[0].role
    assert response.location == f"/run/{run.id}/{first}/"
    console = client.get(response.location, headers=EN)
    assert console.status_code == 200
    page = _text(console)
    assert "A temporary account was made for you" in page
    assert "Temporary account." in page and 'href="/auth/keep"' in page
    # Its home and practice pages are a self-learner's, with the run.
    assert f'/run/{run.id}/' in _text(client.get("/practice/", headers=EN))
    assert "Temporary account." in _text(client.get("/", headers=EN))
    # Logged in already: "try now" makes nothing more.
    again = try_now(client)
    assert again.status_code == 303 and again.location == "/practice/"
    assert len(temporaries()) == 1


def test_a_temporary_account_has_no_known_password_and_joins_no_class(app, client):
    teacher = make_user("teacher", is_instructor=True)
    db.session.add(Classroom(name="电商一班", instructor_id=teacher.id, join_code="JOINCODE01"))
    db.session.commit()
    try_now(client)
    (user,) = temporaries()
    assert client.get("/auth/password").location == "/auth/keep"
    refused = post(client, "/auth/join", {"join_code": "JOINCODE01"}, headers=EN,
                   follow_redirects=True)
    assert "A temporary account cannot join a class" in _text(refused)
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 0


def test_a_temporary_account_is_kept_with_a_username_and_password(app, client):
    make_user("taken")
    try_now(client)
    (user,) = temporaries()
    run_id = db.session.scalar(select(Run.id).where(Run.owner_id == user.id))
    form = {"username": "Taken", "name": "Lin", "password": "longpass1", "confirm": "longpass1",
            "csrf_token": csrf_token(client, "/auth/keep")}
    refused = client.post("/auth/keep", data=form, headers=EN)
    assert refused.status_code == 400 and "is taken" in _text(refused)
    kept = client.post("/auth/keep", data=dict(form, username="lin2026"), headers=EN)
    assert kept.status_code == 302
    db.session.expire_all()
    user = find_user("lin2026")
    assert user is not None and not user.is_temporary and user.name == "Lin"
    assert "Temporary account." not in _text(client.get("/", headers=EN))
    # It logs in again, and finds its run.
    other = login(app.test_client(), "lin2026", "longpass1")
    assert f"/run/{run_id}/" in _text(other.get("/practice/"))
    # A real account has nothing to keep.
    assert client.get("/auth/keep").location == "/"


@pytest.fixture
def limits_on(app):
    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                      TRY_NOW_LIMIT_PER_ADDRESS="2 per hour")
    limiter.init_app(app)
    yield app
    limiter.reset()


def test_try_now_is_rate_limited_per_address_with_a_message(limits_on):
    for _ in range(2):
        assert try_now(limits_on.test_client()).status_code == 303
    refused = try_now(limits_on.test_client())
    assert refused.status_code == 429
    assert "Too many trial accounts" in _text(refused)
    assert len(temporaries()) == 2
    # Another address still may.
    other = limits_on.test_client()
    response = other.post("/auth/try", environ_base={"REMOTE_ADDR": "10.0.0.9"},
                          data={"csrf_token": csrf_token(other, "/")})
    assert response.status_code == 303


# ---- cleaning up ----------------------------------------------------------------------------

def test_every_reference_to_an_account_is_handled_by_the_cleanup(app):
    """A new column pointing at an account must say what deleting a temporary one does."""
    references = {(table.name, fk.parent.name) for table in db.metadata.sorted_tables
                  for fk in table.foreign_keys if fk.column.table.name == "user"}
    assert references == set(temporary.USER_REFERENCES)


def _age(user: User, hours: float) -> None:
    user.created_at = utcnow() - timedelta(hours=hours)
    db.session.commit()


def _rows_of(run_ids) -> dict:
    """How many rows of every table with a run_id belong to these runs."""
    counts = {}
    for table in db.metadata.sorted_tables:
        if "run_id" in table.c:
            counts[table.name] = db.session.scalar(
                select(func.count()).select_from(table).where(table.c.run_id.in_(run_ids)))
    counts["run"] = db.session.scalar(select(func.count()).select_from(Run)
                                      .where(Run.id.in_(run_ids)))
    return counts


def _played_trial(app, hours: float) -> tuple[int, int]:
    """A temporary account of that age whose run has events, documents, stock moves."""
    client = app.test_client()
    try_now(client)
    user = db.session.scalar(select(User).where(User.is_temporary.is_(True))
                             .order_by(User.id.desc()))
    run = db.session.scalar(select(Run).where(Run.owner_id == user.id))
    act(run, "buyer", "place_order", None, lines=[{"sku": "TEA-250", "qty": "2"}],
        payment="bank_transfer")
    db.session.add(FormSubmission(key=f"k{user.id}", user_id=user.id))
    _age(user, hours)
    return user.id, run.id


def test_lab_cleanup_removes_day_old_temporary_accounts_with_all_they_own(app):
    # (in this order, so that making one does not clean up the other, and SQLite cannot give
    # a deleted id to a later row)
    fresh, fresh_run = _played_trial(app, 2)
    old, old_run = _played_trial(app, 25)
    real = make_user("learner")
    real_run = start_run("b2c-normal", {"buyer": [real.id]}, kind="solo",
                         owner_id=real.id).id
    _age(real, 24 * 30)
    before = _rows_of([old_run])
    assert before["event"] > 0 and before["document"] > 0 and before["party"] > 0

    result = app.test_cli_runner().invoke(args=["lab", "cleanup"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 temporary account" in result.output
    db.session.expire_all()
    assert db.session.get(User, old) is None
    assert set(_rows_of([old_run]).values()) == {0}
    assert db.session.scalar(select(func.count()).select_from(FormSubmission)
                             .where(FormSubmission.user_id == old)) == 0
    assert db.session.get(User, fresh) is not None and db.session.get(User, real.id)
    assert _rows_of([fresh_run])["event"] > 0 and _rows_of([real_run])["party"] > 0
    # A second run finds nothing more.
    again = app.test_cli_runner().invoke(args=["lab", "cleanup"])
    assert "Removed 0 temporary account" in again.output


def test_a_new_trial_removes_the_expired_ones(app):
    old, old_run = _played_trial(app, 30)
    real = make_user("learner")
    start_run("b2c-normal", {"buyer": [real.id]}, kind="solo", owner_id=real.id)
    fresh, _ = _played_trial(app, 0)
    db.session.expire_all()
    assert db.session.get(User, old) is None and _rows_of([old_run])["run"] == 0
    assert db.session.get(User, fresh) is not None
    assert db.session.scalar(select(func.count()).select_from(Seat)
                             .where(Seat.user_id == old)) == 0
    assert db.session.scalar(select(func.count()).select_from(Event)
                             .where(Event.run_id == old_run)) == 0


def test_an_expired_temporary_session_is_logged_out(app):
    client = app.test_client()
    try_now(client)
    (user,) = temporaries()
    _age(user, 25)
    temporary.remove_expired()
    db.session.commit()
    assert client.get("/practice/").location.startswith("/auth/login")


# ---- item 2: the address run.py prints ------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_py_prints_the_address_it_serves_when_PORT_is_set(tmp_path):
    """scripts/run.sh ends with `python run.py`: with PORT set, the address printed is the one
    that answers."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "SECRET_KEY", "HOST", "ECOMLAB_HOSTS")}
    env.update(PORT=str(port), ECOMLAB_INSTANCE=str(tmp_path / "instance"),
               PYTHONUNBUFFERED="1")
    assert "exec .venv/bin/python run.py" in (ROOT / "scripts" / "run.sh").read_text()
    server = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed, deadline = "", time.monotonic() + 90
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            printed += line
            if "open http" in line:
                break
        match = re.search(r"open (http://\S+?)/?\s", printed)
        assert match, printed
        address = match.group(1)
        assert address == f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(address + "/", timeout=5) as page:
                    assert page.status == 200
                    assert "/auth/try" in page.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"nothing answers at {address}")
    finally:
        server.terminate()
        server.wait(timeout=20)
