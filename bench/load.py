"""Load benchmark: a simulated class against a real server.

    .venv/bin/python bench/load.py --groups 40 --seconds 60 [--workers 4] [--database-url URL]

It seeds G groups of seven students playing b2c-normal (each group one run), starts the lab under
gunicorn on 127.0.0.1, and for --seconds lets every student's console poll every 2 s and, when
its run moved, refetch its inbox, panels, history and guide (as the browser does), while one
driver per group carries orders through the flow with real form POSTs, round after round. It
prints request latencies (p50/p95/max) for polls and actions, how many
actions were performed, errors, and the server's memory. Traffic goes to 127.0.0.1 only and
stops by itself."""
from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ROLES = ("mall_admin", "buyer", "supplier", "warehouse", "finance", "purchasing", "logistics")
FLOW = [("supplier", "accept_order", "order"), ("buyer", "pay_order", "order"),
        ("finance", "confirm_payment", "order"), ("warehouse", "ship_order", "order"),
        ("logistics", "deliver_order", "shipment"), ("buyer", "confirm_receipt", "order")]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "bench-pass-1"


def seed(database_url: str, instance: str, groups: int) -> list[dict]:
    os.environ["DATABASE_URL"] = database_url
    os.environ["ECOMLAB_INSTANCE"] = instance
    # A shared database refuses to start without a real key; the server below inherits it.
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    from lab import create_app
    from lab.extensions import db
    from lab.models import User
    from lab.runs import create_run
    from lab.scenario import load_file
    app = create_app()
    runs = []
    with app.app_context():
        from flask_migrate import upgrade
        upgrade(directory=app.extensions["migrate"].directory)
        scenario = load_file(ROOT / "scenarios" / "b2c-normal.yaml")
        for g in range(groups):
            users = {}
            for role in ROLES:
                user = User(username=f"g{g}-{role}", name=f"g{g} {role}")
                user.set_password(PASSWORD)
                db.session.add(user)
                users[role] = user
            db.session.flush()
            run = create_run(scenario, seats={r: [u.id] for r, u in users.items()}, start=True)
            runs.append({"run": run, "users": {r: u.username for r, u in users.items()}})
        db.session.commit()
        return [{"run": r["run"].id, "users": r["users"]} for r in runs]


class Client:
    def __init__(self, base: str, stats: Stats):
        self.base, self.stats = base, stats
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = ""

    def request(self, kind: str, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        started = time.perf_counter()
        try:
            with self.opener.open(self.base + path, body, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        except OSError:
            status, text = 599, ""
        self.stats.add(kind, time.perf_counter() - started, status)
        if data is None:
            match = CSRF.search(text)
            if match:
                self.token = match.group(1)
        return status, text

    def login(self, username: str) -> None:
        self.request("page", "/auth/login")
        self.request("login", "/auth/login", {"username": username, "password": PASSWORD,
                                              "csrf_token": self.token})


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.measuring = False  # logins happen before; only the class at work is measured

    def add(self, kind: str, seconds: float, status: int) -> None:
        if not self.measuring:
            return
        with self.lock:
            self.times.setdefault(kind, []).append(seconds)
            if status >= 500:
                self.errors[kind] = self.errors.get(kind, 0) + 1

    def report(self) -> str:
        lines = []
        for kind, values in sorted(self.times.items()):
            values = sorted(values)
            p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
            p50 = statistics.median(values)
            lines.append(f"  {kind:<8} n={len(values):<6} p50={p50*1000:7.1f} ms"
                         f"  p95={p95*1000:7.1f} ms  max={values[-1]*1000:7.1f} ms"
                         f"  5xx={self.errors.get(kind, 0)}")
        return "\n".join(lines)


def poller(base, stats, username, run_id, role, stop, ready):
    """A student's open console: it polls, and on news refetches its fragments like live.js."""
    client = Client(base, stats)
    client.login(username)
    ready.wait()
    last = 0
    fragments = [f"/run/{run_id}/{role}/live"]  # what live.js fetches on news
    while not stop.is_set():
        status, text = client.request("poll", f"/live/{run_id}?since={last}")
        match = re.search(r'"last":\s*(\d+)', text)
        if match and int(match.group(1)) != last:
            last = int(match.group(1))
            for path in fragments:
                client.request("fragment", path)
        stop.wait(2.0)


def driver(base, stats, group, stop, done, ready, think):
    clients = {}
    for role in ("buyer", "supplier", "finance", "warehouse", "logistics"):
        clients[role] = Client(base, stats)
        clients[role].login(group["users"][role])
    ready.wait()
    run = group["run"]
    order_no = 0
    while not stop.is_set():
        buyer = clients["buyer"]
        buyer.request("page", f"/run/{run}/buyer/")
        status, _ = buyer.request("action", f"/run/{run}/buyer/act/place_order", {
            "csrf_token": buyer.token, "sku": "TEA-250", "qty": "1",
            "payment": "bank_transfer", "request_key": f"bench{run}x{order_no}x{time.time_ns()}"})
        order_no += 1
        for role, action, _kind in FLOW:
            if stop.is_set():
                return
            client = clients[role]
            _, page = client.request("page", f"/run/{run}/{role}/")
            ids = re.findall(rf'action="/run/{run}/{role}/act/{action}"[^>]*>'
                             r'.*?name="doc" value="(\d+)"', page, re.S)
            if not ids:
                continue
            client.request("action", f"/run/{run}/{role}/act/{action}",
                           {"csrf_token": client.token, "doc": ids[0],
                            "request_key": f"b{time.time_ns()}"})
            with done["lock"]:
                done["n"] += 1
            stop.wait(think)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    total = 0
    for p in [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--think", type=float, default=5.0,
                        help="seconds a group takes between two actions (0: flat out)")
    args = parser.parse_args()
    instance = tempfile.mkdtemp(prefix="ecomlab-bench-")
    database_url = args.database_url or f"sqlite:///{instance}/bench.sqlite"
    groups = seed(database_url, instance, args.groups)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, ECOMLAB_INSTANCE=instance,
               BOT_DELAY_SECONDS="2")
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(args.workers), "--threads",
         str(args.threads), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "run:app"],
        cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/auth/login", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    stats, stop, done = Stats(), threading.Event(), {"n": 0, "lock": threading.Lock()}
    ready = threading.Barrier(args.groups * (len(ROLES) + 1) + 1, timeout=600)
    threads = []
    for group in groups:
        for role in ROLES:
            threads.append(threading.Thread(target=poller, daemon=True, args=(
                base, stats, group["users"][role], group["run"], role, stop, ready)))
        threads.append(threading.Thread(target=driver, daemon=True, args=(
            base, stats, group, stop, done, ready, args.think)))
    for t in threads:
        t.start()
    ready.wait()  # everybody logged in: the lesson starts
    stats.measuring = True
    time.sleep(args.seconds)
    memory = rss_mb(server.pid)
    stop.set()
    for t in threads:
        t.join(timeout=35)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    backend = database_url.split(":", 1)[0]
    print(f"ecomlab load benchmark: {args.groups} groups x 7 consoles polling every 2 s, "
          f"one action per group every {args.think:g} s, {args.seconds:.0f} s, gunicorn "
          f"{args.workers} workers x {args.threads} threads, {backend}")
    print(stats.report())
    print(f"  actions performed: {done['n']} ({done['n'] / args.seconds:.1f}/s); "
          f"server memory (all workers): {memory:.0f} MB")
    shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
