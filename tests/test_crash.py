"""A crash in the middle of a class leaves a consistent database.

A real server (gunicorn, two workers with threads) on a temporary SQLite database serves a class
of four groups: students click through their consoles over HTTP (orders, acceptances, payments,
receipts, the same form twice at once) while their consoles poll and the bots play the other
roles. Mid-run the whole server is killed with SIGKILL, twice (started again in between), and
then `flask --app run lab verify` must find ledgers equal to balances, stock cards equal to
stock, one event per accepted action. With TEST_DATABASE_URL set it runs on PostgreSQL too."""
import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import PG_URL, _pg_url

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
GONE = (OSError, http.client.HTTPException)  # what a request meets when the server dies
GROUPS = 4
PASSWORD = "crash-test-1"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
STUDENTS = ("buyer", "supplier")  # the other roles are played by bots
# A student's clicks after the order, each in the console where its button is: (role, action).
FLOW = [("supplier", "accept_order"), ("buyer", "pay_order"), ("buyer", "confirm_receipt")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One student's browser: cookies, the CSRF token of the last page; it counts the requests
    answered and those the server died with."""

    def __init__(self, base: str, tally: dict):
        self.base, self.tally, self.token = base, tally, ""
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        return self.send(path)[1]

    def send(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, body, timeout=10) as response:
                status, page = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, page = error.code, error.read().decode()
        except GONE:
            with self.tally["lock"]:
                self.tally["cut"] += 1  # sent, never answered: the server died with it
            raise
        match = CSRF.search(page)
        if match:
            self.token = match.group(1)
        return status, page

    def act(self, run: int, role: str, action: str, **fields) -> None:
        """Press a button (a form POST with its one-time key); count the answer. When the
        server dies under it, the button is simply not answered."""
        fields.setdefault("request_key", secrets.token_hex(12))
        fields["csrf_token"] = self.token
        try:
            self.send(f"/run/{run}/{role}/act/{action}", fields)
        except GONE:
            return
        with self.tally["lock"]:
            self.tally["answered"] += 1


def seed(env: dict) -> list[dict]:
    """The class, in the server's database: GROUPS groups of two students (buyer and sales),
    b2c-normal assigned and started, bots acting without delay."""
    from lab import create_app
    from lab.classroom.work import assign
    from lab.extensions import db
    from lab.models import Classroom, Enrollment, Group, User
    from lab.runs import start
    from lab.scenario import load_file
    app = create_app({"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"].replace(
        "postgresql://", "postgresql+psycopg://", 1), "SECRET_KEY": env["SECRET_KEY"],
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        db.create_all()
        teacher = User(username="teacher", name="Teacher", is_instructor=True)
        teacher.set_password(PASSWORD)
        db.session.add(teacher)
        db.session.flush()
        room = Classroom(name="crash", instructor_id=teacher.id, join_code="CRASHTEST1")
        db.session.add(room)
        db.session.flush()
        groups = []
        for n in range(1, GROUPS + 1):
            roles = {}
            for role in STUDENTS:
                user = User(username=f"g{n}-{role}", name=f"{role} {n}")
                user.set_password(PASSWORD)
                db.session.add(user)
                db.session.flush()
                roles[role] = user.id
            group = Group(classroom_id=room.id, number=n, roles=roles)
            db.session.add(group)
            db.session.flush()
            db.session.add_all(Enrollment(classroom_id=room.id, user_id=user_id,
                                          group_id=group.id) for user_id in roles.values())
            groups.append(group)
        assignment = assign(room, load_file(ROOT / "scenarios" / "b2c-normal.yaml"), groups,
                            teacher.id)
        seeded = []
        for run, group in zip(assignment.runs, groups, strict=True):
            run.bot_delay_seconds = 0
            start(run, by=teacher.id)
            seeded.append({"run": run.id, "group": group.number})
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return seeded


def serve(env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", "2", "--threads", "4", "-b",
         f"127.0.0.1:{port}", "--log-level", "error", "run:app"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120  # a loaded machine starts workers slowly
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login", timeout=1)
            return server
        except OSError:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            time.sleep(0.1)
    kill(server)
    raise AssertionError("the server did not start")


def kill(server: subprocess.Popen) -> None:
    """SIGKILL to the master and every worker at once: a crash, no shutdown of any kind."""
    with contextlib.suppress(ProcessLookupError):  # already gone: nothing to kill
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=10)


def student(base: str, username: str, tally: dict) -> Browser:
    browser = Browser(base, tally)
    browser.get("/auth/login")
    status, _ = browser.send("/auth/login", {"username": username, "password": PASSWORD,
                                             "csrf_token": browser.token})
    assert status in (200, 302), status
    return browser


def play_group(base: str, group: dict, stop: threading.Event, tally: dict) -> None:
    """Two students of one group clicking through orders as fast as they can, the buyer's
    console polling (the bots' turn comes with the polls), until the server dies."""
    run = group["run"]
    try:
        browsers = {role: student(base, f"g{group['group']}-{role}", tally)
                    for role in STUDENTS}
        buyer = browsers["buyer"]
        while not stop.is_set():
            buyer.get(f"/run/{run}/buyer/")
            buyer.act(run, "buyer", "place_order", sku="TEA-250", qty="2",
                      payment="bank_transfer")
            for role, action in FLOW:
                browser = browsers[role]
                buyer.get(f"/live/{run}?since=0")  # the bots play finance, warehouse, logistics
                page = browser.get(f"/run/{run}/{role}/")
                ids = re.findall(rf'action="/run/{run}/{role}/act/{action}"[^>]*>.*?'
                                 r'name="doc" value="(\d+)"', page, re.S)
                if not ids:
                    continue
                # The same button pressed twice at once (two tabs): one action.
                fields = {"doc": ids[0], "request_key": secrets.token_hex(12)}
                twice = [threading.Thread(target=browser.act, args=(run, role, action),
                                          kwargs=fields) for _ in range(2)]
                for thread in twice:
                    thread.start()
                for thread in twice:
                    thread.join()
    except GONE:
        pass  # the server is gone


def class_until_killed(env: dict, groups: list[dict], presses: int) -> tuple[int, int]:
    """Serve the class until its students have had `presses` buttons answered, then kill the
    server while the next ones are on their way: (buttons answered, requests cut off)."""
    port = free_port()
    server = serve(env, port)
    stop, tally = threading.Event(), {"answered": 0, "cut": 0, "lock": threading.Lock()}
    threads = [threading.Thread(target=play_group, args=(f"http://127.0.0.1:{port}", g, stop,
                                                         tally), daemon=True) for g in groups]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120  # a stalled server fails the count below, never hangs
    while tally["answered"] < presses and time.monotonic() < deadline \
            and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    kill(server)  # mid-run: requests in flight, transactions open
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    return tally["answered"], tally["cut"]


def lab(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "run", "lab", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["sqlite"] + (["postgresql"] if PG_URL else []))
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.sqlite'}"
        return
    schema = f"ecomlab_c{os.getpid()}"
    engine = create_engine(_pg_url())
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{_pg_url()}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def test_killing_the_server_mid_class_leaves_a_consistent_database(database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, SECRET_KEY=secrets.token_hex(32),
               ECOMLAB_INSTANCE=str(tmp_path / "instance"), BOT_DELAY_SECONDS="0",
               RATELIMIT_ENABLED="0")
    env.pop("FLASK_APP", None)
    groups = seed(env)
    answered, cut = class_until_killed(env, groups, 20)
    assert answered >= 20  # the class was at work when the server died
    # Started again on what the crash left, the class goes on; and dies again.
    more, cut_again = class_until_killed(env, groups, 12)
    assert more >= 12
    assert cut + cut_again >= 1  # the kills came mid-request, not between requests

    verified = lab(env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Consistent: no difference." in verified.stdout
    events = int(re.search(r"events (\d+)", verified.stdout).group(1))
    documents = int(re.search(r"documents (\d+)", verified.stdout).group(1))
    # Orders, shipments, payments were made (on a loaded machine more of the answers are
    # refusals, "wait" or "done already", so the floor is below the 32 answers).
    assert events >= 20 and documents >= 6, verified.stdout
