"""Class benchmark: N students play whole scenarios against a real server, as browsers do.

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/class_bench.py --students 49 [--database-url URL] [--workers 4]

What it does, in order:

1. Seeds a fresh database (a temporary SQLite file, or a temporary database created on the
   PostgreSQL server of --database-url and dropped afterwards): one instructor's class of N
   students in groups of five to seven, one group per run, the scenarios of --scenarios taken in
   turn (each group has exactly the seats its scenario lists), every run assigned and started as
   an instructor does, its bots waiting --bot-delay seconds. Passwords are hashed cheaply here:
   logins happen before the measured part and are not what is measured.
2. Starts the lab under gunicorn on 127.0.0.1 (`bench.floor_app:app`: the lab plus two floor
   pages, /bench/hello and /bench/row).
3. Drives the class with locust (library mode, headless, FastHttpUser: one simulated browser per
   student). Each student logs in, opens their console (a page), polls /live/<run> every
   POLL_SECONDS, fetches the console's live bundle when the poll says the run moved (a
   fragment), reads their guide, and when it shows a step of theirs waits a think time, then
   fills the form from the hint and sends it (an action; the redirect's console is a page), as
   tests/guide_student.py does in the test that plays every scenario by the guide. With
   probability --wrong a student first sends their previous form again with a new request key
   (a stale click: refused, a mistake). A student stops when their guide shows the run done.
   Alongside, --floor-users simulated browsers fetch the two floor pages at poll rate.
4. Reports p50/p95/p99 per kind (action, page, fragment, poll, floor), errors (5xx, 429,
   connection), the server's CPU (cores used) and memory (all gunicorn processes, peak), the
   generator's own CPU (above ~90% of a core it is the bottleneck, and it says so), how many
   runs finished, and then runs `flask --app run lab verify` on the database: ledgers equal
   balances, stock cards equal stock, one event per accepted action.

The last line is machine-readable:

    students=… action_p95_ms=… page_p95_ms=… poll_p95_ms=… errors=… consistent=yes
    page_floor_ratio=… poll_floor_ratio=…

A floor ratio is the floor page's median latency over the kind's (1.0: as cheap as the floor;
page against /bench/row, poll against /bench/hello): what the lab costs on top of the stack.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-pass-1"
SCENARIOS = "b2c-normal,b2c-out-of-stock,b2c-return,b2b-normal"


# ---- seeding and checking (a plain process: no gevent) ---------------------------------------

def seed(args) -> None:
    """Print, as JSON, the class this run plays: [{run, slug, students: [[username, role]]}]."""
    from flask_migrate import upgrade

    from lab import create_app
    from lab.classroom.work import assign
    from lab.extensions import db
    from lab.models import Classroom, Enrollment, Group, Run, User
    from lab.runs import start
    from lab.scenario import load_file

    app = create_app()
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    slugs = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        teacher = User(username="bench-teacher", name="Bench Teacher", is_instructor=True)
        teacher.set_password(PASSWORD)
        db.session.add(teacher)
        db.session.flush()
        classroom = Classroom(name="Bench class", instructor_id=teacher.id,
                              join_code=secrets.token_hex(8).upper())
        db.session.add(classroom)
        db.session.flush()
        scenarios = {slug: load_file(ROOT / "scenarios" / f"{slug}.yaml") for slug in slugs}
        groups: dict[str, list] = {slug: [] for slug in slugs}
        seated, number = 0, 0
        while True:
            slug = slugs[number % len(slugs)]
            roles = scenarios[slug].roles
            if seated + len(roles) > args.students:
                break
            number += 1
            users = {}
            for role in roles:
                seated += 1
                user = User(username=f"s{seated:04d}", name=f"Student {seated}")
                user.set_password(PASSWORD)
                db.session.add(user)
                users[role] = user
            db.session.flush()
            group = Group(classroom_id=classroom.id, number=number,
                          roles={role: u.id for role, u in users.items()})
            db.session.add(group)
            db.session.flush()
            for user in users.values():
                db.session.add(Enrollment(classroom_id=classroom.id, user_id=user.id,
                                          group_id=group.id))
            groups[slug].append((group, users))
        plays = []
        for slug, members in groups.items():
            if not members:
                continue
            assignment = assign(classroom, scenarios[slug], [g for g, _ in members],
                                teacher.id, bot_delay=args.bot_delay)
            runs = {r.group_id: r for r in db.session.scalars(
                db.select(Run).where(Run.assignment_id == assignment.id))}
            for group, users in members:
                run = runs[group.id]
                start(run, by=teacher.id)
                plays.append({"run": run.id, "slug": slug,
                              "students": [[u.username, role] for role, u in users.items()]})
        db.session.commit()
    print(json.dumps(plays))


def finished(args) -> None:
    """Print how many of the class's runs are complete (the grader's word)."""
    from lab import create_app
    from lab.extensions import db
    from lab.models import Run
    from lab.runs import grade_run

    app = create_app()
    with app.app_context():
        runs = list(db.session.scalars(db.select(Run).where(Run.kind == "class")))
        print(json.dumps({"runs": len(runs),
                          "completed": sum(grade_run(r).completed for r in runs)}))


# ---- the database -----------------------------------------------------------------------------

def make_database(url: str, instance: str) -> tuple[str, callable]:
    """A fresh database for this run, and how to drop it."""
    if not url:
        return f"sqlite:///{instance}/bench.sqlite", lambda: None
    import psycopg
    parts = urllib.parse.urlsplit(url)
    name = f"ecomlab_bench_{secrets.token_hex(4)}"
    admin = parts._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return parts._replace(path=f"/{name}").geturl(), drop


def helper(mode: str, args, env) -> dict | list:
    out = subprocess.run([sys.executable, __file__, "--internal", mode, "--students",
                          str(args.students), "--scenarios", args.scenarios, "--bot-delay",
                          str(args.bot_delay)], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- the class at work (locust, gevent) -------------------------------------------------------

def drive(args, base: str, plays: list[dict], server_pid: int) -> dict:
    import gevent
    import psutil
    from locust import FastHttpUser, constant, events, task
    from locust.env import Environment
    from locust.exception import StopUser

    from tests.guide_student import Blocked, Page, Student, take_turn

    seats = [(play, username, role) for play in plays for username, role in play["students"]]
    random.Random(1).shuffle(seats)
    seat_queue = list(seats)
    poll_seconds = args.poll_seconds
    state = {"measuring": False, "blocked": 0, "done": 0, "wrong": 0}
    rng = random.Random(7)

    class Answer:
        def __init__(self, response):
            self.status_code = response.status_code
            self.headers = response.headers
            self._text = response.text or ""

        def get_data(self, as_text=True):
            return self._text

        def get_json(self):
            return json.loads(self._text)

    class Browser:
        """What guide_student's Student expects of a client, over locust's HTTP client; each
        request is named by its kind, the name its figures are reported under."""

        def __init__(self, user):
            self.user = user
            self.last_action: tuple[str, dict] | None = None  # a stale click resends it

        def kind(self, method: str, path: str) -> str:
            if method == "POST":
                return "action" if "/act/" in path or path.endswith(("/cart", "/checkout",
                                                                      "/certificate")) \
                    else "post"
            if path.startswith("/live/"):
                return "poll"
            if path.endswith("/live"):
                return "fragment"
            return "page"

        def request(self, method: str, url: str, data=None, headers=None):
            path = urllib.parse.urlsplit(url).path
            name = self.kind(method, path) if state["measuring"] else "warm-up"
            body = None
            if data is not None:
                body = urllib.parse.urlencode(data, doseq=True)
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                if name == "action":
                    self.last_action = (url, data)
            with self.user.client.request(method, url, data=body, headers=headers, name=name,
                                          allow_redirects=False, catch_response=True) as r:
                if r.status_code < 400:
                    r.success()
                else:
                    r.failure(f"{r.status_code}")
                return Answer(r)

        def get(self, url):
            return self.request("GET", url)

        def post(self, url, data=None):
            return self.request("POST", url, data=data)

    class BenchStudent(Student):
        """A student in a browser: the console is loaded once, then refreshed from the live
        bundle (inbox, panels, guide, history) as live.js does."""
        title = ""

        def look(self):
            if self.page is None or not self.title:
                self.page = self.get(self.console)
                h1 = self.page.root.find(lambda n: n.tag == "h1")
                self.title = str(h1.clean_text()) if h1 is not None else self.role
                return self.page
            answer = self.client.request("GET", self.console + "live",
                                         headers={"Accept": "application/json"}).get_json()
            self.page = Page(f"<h1>{self.title}</h1>" + "".join(answer["parts"].values()),
                             self.console)
            return self.page

    class StudentUser(FastHttpUser):
        host = base
        wait_time = constant(0)
        network_timeout = 60.0
        connection_timeout = 60.0

        def on_start(self):
            play, username, role = seat_queue.pop()
            self.play, self.role = play, role
            browser = Browser(self)
            page = browser.get("/auth/login")
            token = Page(page.get_data(), "/auth/login").root.find(
                lambda n: n.tag == "input" and n.attrs.get("name") == "csrf_token")
            browser.post("/auth/login", {"username": username, "password": PASSWORD,
                                         "csrf_token": token.attrs["value"]})
            self.browser = browser
            self.student = BenchStudent(role, browser, 0, play["run"])
            self.student.look()

        @task
        def lesson(self):
            student = self.student
            try:
                if student.poll():
                    student.look()
                guide = student.guide()
                if guide["completed"]:
                    state["done"] += 1
                    raise StopUser()
                ready = [s for s in guide["steps"] if not s["bot"] and not s["waiting"]
                         and (s["role"] == student.role or s["first"])]
                if ready:
                    gevent.sleep(rng.uniform(args.think / 2, args.think * 1.5))
                    if self.browser.last_action and rng.random() < args.wrong:
                        url, data = self.browser.last_action  # a stale click: refused
                        self.browser.post(url, dict(data, request_key=[secrets.token_hex(8)]))
                        state["wrong"] += 1
                    if take_turn(student, self.play["slug"], "zh"):
                        student.page = None
                        student.look()  # the redirect's console
                        return
            except Blocked:
                state["blocked"] += 1  # another student moved first: look again next poll
                student.page = None
            gevent.sleep(poll_seconds)

    class FloorUser(FastHttpUser):
        host = base
        wait_time = constant(poll_seconds)

        @task
        def floor(self):
            for path in ("/bench/row", "/bench/hello"):
                name = ("floor-row" if path.endswith("row") else "floor-hello") \
                    if state["measuring"] else "warm-up"
                self.client.get(path, name=name)

    StudentUser.fixed_count, FloorUser.fixed_count = len(seats), args.floor_users
    env = Environment(user_classes=[StudentUser, FloorUser], events=events)
    runner = env.create_local_runner()
    me = psutil.Process()
    server = psutil.Process(server_pid)

    def server_processes():
        try:
            return [server, *server.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_seconds(processes):
        total = 0.0
        for p in processes:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    everybody = len(seats) + args.floor_users
    runner.start(user_count=everybody, spawn_rate=args.spawn_rate)
    # everybody in (logged in, console open), then the clock starts
    deadline = time.time() + 600
    while runner.user_count < everybody and time.time() < deadline:
        gevent.sleep(0.5)
    gevent.sleep(poll_seconds)
    env.stats.reset_all()
    state["measuring"] = True
    started = time.time()
    server_cpu0, my_cpu0 = cpu_seconds(server_processes()), cpu_seconds([me])
    peak_mb = [0.0]

    def sample_memory():
        while True:
            rss = 0
            for p in server_processes():
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            peak_mb[0] = max(peak_mb[0], rss / 2**20)
            gevent.sleep(1)
    sampler = gevent.spawn(sample_memory)
    while time.time() - started < args.max_seconds and state["done"] < len(seats):
        gevent.sleep(1)
    elapsed = time.time() - started
    server_cpu = cpu_seconds(server_processes()) - server_cpu0
    my_cpu = cpu_seconds([me]) - my_cpu0
    sampler.kill()
    runner.quit()
    # one entry per kind: each kind is one method (actions POST, the rest GET)
    stats = {entry.name: entry for entry in env.stats.entries.values()
             if entry.name != "warm-up"}
    errors = {}
    for error in env.stats.errors.values():
        if error.name != "warm-up":
            errors[f"{error.name} {error.error}"] = error.occurrences
    return {"stats": stats, "errors": errors, "elapsed": elapsed, "server_cpu": server_cpu,
            "generator_cpu": my_cpu, "peak_mb": peak_mb[0], "done": state["done"],
            "blocked": state["blocked"], "wrong": state["wrong"], "seats": len(seats)}


# ---- main ---------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=49)
    parser.add_argument("--scenarios", default=SCENARIOS,
                        help="comma-separated library scenarios, one per group in turn")
    parser.add_argument("--database-url", default="",
                        help="a PostgreSQL server (a temporary database is made on it); "
                             "default: a temporary SQLite file")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--think", type=float, default=3.0,
                        help="seconds a student reads before doing a step (±50%%)")
    parser.add_argument("--wrong", type=float, default=0.1,
                        help="chance that a student resends their previous form first")
    parser.add_argument("--bot-delay", type=float, default=2.0)
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--floor-users", type=int, default=5)
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--max-seconds", type=float, default=600,
                        help="stop the measured part after this long even if runs are open")
    parser.add_argument("--internal", choices=("seed", "finished"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.internal == "seed":
        return seed(args)
    if args.internal == "finished":
        return finished(args)

    instance = tempfile.mkdtemp(prefix="ecomlab-bench-")
    database_url, drop = make_database(args.database_url, instance)
    env = dict(os.environ, DATABASE_URL=database_url, ECOMLAB_INSTANCE=instance,
               SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(32),
               POLL_SECONDS=str(args.poll_seconds), BOT_DELAY_SECONDS=str(args.bot_delay))
    server = None
    try:
        plays = helper("seed", args, env)
        students = sum(len(p["students"]) for p in plays)
        port = free_port()
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-w", str(args.workers),
             "--threads", str(args.threads), "-b", f"127.0.0.1:{port}", "--log-level",
             "warning", "bench.floor_app:app"], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/bench/hello")
        result = drive(args, base, plays, server.pid)
        checked = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "run",
                                  "lab", "verify"], env=env, cwd=ROOT, capture_output=True,
                                 text=True)
        done = helper("finished", args, env)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop()
        shutil.rmtree(instance, ignore_errors=True)
    report(args, database_url, students, len(plays), result, checked, done)


def report(args, database_url, students, groups, result, checked, done) -> None:
    stats, elapsed = result["stats"], result["elapsed"]
    backend = database_url.split(":", 1)[0].split("+")[0]
    print(f"ecomlab class benchmark: {students} students in {groups} groups "
          f"({args.scenarios}), {backend}, gunicorn {args.workers} workers x {args.threads} "
          f"threads, think {args.think:g} s, wrong moves {args.wrong:.0%}, bots after "
          f"{args.bot_delay:g} s, poll every {args.poll_seconds:g} s")
    print(f"{'kind':<12}{'n':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'errors':>8}")
    p95 = {}
    for kind in ("action", "page", "fragment", "poll", "post", "floor-row", "floor-hello"):
        entry = stats.get(kind)
        if entry is None or not entry.num_requests:
            continue
        values = [entry.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99)]
        p95[kind] = values[1]
        print(f"{kind:<12}{entry.num_requests:>8}{values[0]:>10.0f}{values[1]:>10.0f}"
              f"{values[2]:>10.0f}{entry.num_failures:>8}")
    errors = sum(e.num_failures for e in stats.values())
    for what, count in sorted(result["errors"].items()):
        print(f"  error: {what} x{count}")
    cores = result["server_cpu"] / elapsed if elapsed else 0
    generator = result["generator_cpu"] / elapsed if elapsed else 0
    print(f"measured {elapsed:.0f} s; server CPU {cores:.2f} cores, memory peak "
          f"{result['peak_mb']:.0f} MB (all gunicorn processes); generator CPU "
          f"{generator:.0%} of one core" + ("  ← the generator is saturated: its figures "
                                            "include its own queueing" if generator > 0.9
                                            else ""))
    print(f"runs finished: {done['completed']} of {done['runs']}; students whose guide said "
          f"done: {result['done']} of {result['seats']}; stale clicks sent: {result['wrong']}; "
          f"looks again after another student moved first: {result['blocked']}")
    consistent = checked.returncode == 0
    print("lab verify: " + ("consistent" if consistent else "DIFFERENCES\n" + checked.stdout
                            + checked.stderr))

    def ratio(floor, kind):
        floor_ms = stats[floor].median_response_time if floor in stats else 0
        kind_ms = stats[kind].median_response_time if kind in stats else 0
        return f"{floor_ms / kind_ms:.2f}" if floor_ms and kind_ms else "n/a"
    print(f"students={students} action_p95_ms={p95.get('action', 0):.0f} "
          f"page_p95_ms={p95.get('page', 0):.0f} poll_p95_ms={p95.get('poll', 0):.0f} "
          f"errors={errors} consistent={'yes' if consistent else 'no'} "
          f"page_floor_ratio={ratio('floor-row', 'page')} "
          f"poll_floor_ratio={ratio('floor-hello', 'poll')}")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not answer at {url}")


if __name__ == "__main__":
    main()
