"""The bad-input corpus: hostile or broken values in every kind of input the lab takes (console
forms, the instructor's forms, ids in URLs and forms, uploads, the login and registration forms),
each sent by the persona that can reach the form. Every case must get a clear answer (a 4xx, or
a form's 303 back to its page with the reason shown) and change nothing: the database is
compared before and after each case (row counts and a hash of every table; a refused student
action is recorded as a mistake by design, so refused events are left out of the comparison).

It extends tests/test_bad_input.py (which checks the messages of the main refusals) to the
whole surface, on SQLite and PostgreSQL. The audit found 44 answers of 500 among 479 bad
inputs: sNaN and 1e999999999 amounts, 20-digit ids, NUL bytes (PostgreSQL), CR/LF in `next`,
bad ids that widened an instructor's action. The cases below name the finding they stand for."""
from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field

import pytest
from flask import got_request_exception
from sqlalchemy import select

from lab.classroom import work
from lab.engine import Actor, perform
from lab.extensions import db
from lab.models import Adjustment, Classroom, Enrollment, Group, Run
from lab.runs import start
from lab.scenario import load_file
from tests.helpers import SCENARIOS, csrf_token, login, make_user, start_run

EN = {"Accept-Language": "en"}
JSON = {**EN, "Accept": "application/json"}

# ---- the values ----------------------------------------------------------------------------

BAD_MONEY = ["sNaN", "NaN", "-NaN", "Infinity", "-Infinity", "inf", "1e999999999", "1E+999999",
             "1e-999999999", "-0.01", "0.001", "1,000,000.01", "1e12", "--1", "0x10", "", "¥12"]
BAD_QTY = ["sNaN", "NaN", "Infinity", "1e999999999", "1e3", "0x10", "-0", "1.5", "",
           "9" * 20, "9" * 5000, "0", "-3"]
HUGE_IDS = ["2147483648", "9223372036854775808", "99999999999999999999"]
BAD_IDS = HUGE_IDS + ["-1", "0", "1e3", "0x1", "1.0", "abc", "٣", "1 2"]
BAD_DATES = ["2026-13-45", "9999-99-99", "+275760-09-13", "0000-00-00", "tomorrow",
             "2026-02-30"]
NUL = "a\x00b"


@dataclass
class Case:
    """One bad input. url/data may name the world's ids ({r1}, {order}…). expect: "refusal"
    (a 4xx, or a form's 303 back with a message), "404", or "no5xx" (a GET whose junk query
    is ignored: any answer below 500, nothing changed)."""
    id: str
    who: str
    url: str
    data: dict | None = None
    method: str = "POST"
    files: dict = field(default_factory=dict)  # field → (bytes, filename)
    accept: dict = field(default_factory=lambda: dict(EN))
    expect: str = "refusal"


def cases() -> dict[str, list[Case]]:
    area: dict[str, list[Case]] = {"console": [], "classroom": [], "urls": [], "uploads": [],
                                   "people": []}
    c = area["console"]
    order = {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer"}
    act = "/run/{r1}/buyer/act/place_order"
    for q in BAD_QTY:
        c.append(Case(f"order qty {q[:12]!r}", "s1", act, {**order, "qty": q}, accept=JSON))
    for sku in ["NOPE-1", "x" * 10000, "' OR 1=1 --", "<script>", "TEA-250'; DROP TABLE x"]:
        c.append(Case(f"order sku {sku[:12]!r}", "s1", act, {**order, "sku": sku}, accept=JSON))
    for pay in ["bitcoin", "x" * 10000, "BANK_TRANSFER"]:
        c.append(Case(f"order payment {pay[:12]!r}", "s1", act, {**order, "payment": pay},
                      accept=JSON))
    for d in BAD_DATES:
        c.append(Case(f"order date {d!r}", "s1", act, {**order, "delivery_date": d},
                      accept=JSON))
    for name in ["sku", "qty", "payment", "delivery_date", "request_key", "next"]:
        c.append(Case(f"order NUL in {name} (PostgreSQL 500)", "s1", act,
                      {**order, name: NUL}, accept=JSON))
        c.append(Case(f"order NUL in {name}, a form", "s1", act, {**order, name: NUL}))
    c.append(Case("order NUL in a field name", "s1", act, {**order, "no\x00te": "x"},
                  accept=JSON))
    c.append(Case("order two lines, one without qty", "s1", act,
                  {"sku": ["TEA-250", "CUP-01"], "qty": ["2"], "payment": "bank_transfer"},
                  accept=JSON))
    for i in BAD_IDS:
        c.append(Case(f"pay doc {i!r} (20-digit ids: 500)", "s1", "/run/{r1}/buyer/act/pay_order",
                      {"doc": i}, accept=JSON))
        c.append(Case(f"accept doc {i!r}", "s2", "/run/{r1}/supplier/act/accept_order",
                      {"doc": i}, accept=JSON))
    c.append(Case("accept another run's order", "s4", "/run/{r2}/supplier/act/accept_order",
                  {"doc": "{order}"}, accept=JSON))
    c.append(Case("an action of another role", "s1",
                  "/run/{r1}/buyer/act/approve_purchase_order", {"doc": "{order}"},
                  accept=JSON))
    c.append(Case("an unknown action", "s1", "/run/{r1}/buyer/act/teleport", {}, accept=JSON))
    c.append(Case("an action 1000 characters long", "s1", "/run/{r1}/buyer/act/" + "x" * 1000,
                  {}, accept=JSON))
    product = {"sku": "NEW-1", "name": "New tea", "price": "12.00", "stock": "5"}
    publish = "/run/{r1}/mall_admin/act/publish_product"
    for m in BAD_MONEY:
        c.append(Case(f"publish price {m!r} (sNaN: 500)", "s3", publish,
                      {**product, "price": m}, accept=JSON))
    for m in ["sNaN", "Infinity", "1e999999999", "NaN"]:
        c.append(Case(f"publish cost {m!r}", "s3", publish, {**product, "cost": m},
                      accept=JSON))
    for q in ["sNaN", "9" * 20, "-1", "1e999999999"]:
        c.append(Case(f"publish stock {q[:12]!r}", "s3", publish, {**product, "stock": q},
                      accept=JSON))
    c.append(Case("publish name too long", "s3", publish, {**product, "name": "n" * 201},
                  accept=JSON))
    c.append(Case("notice body too long", "s3", "/run/{r1}/mall_admin/act/post_notice",
                  {"title": "t", "body": "b" * 4001}, accept=JSON))
    cart = "/run/{r1}/buyer/cart"
    for q in ["sNaN", "Infinity", "1e999999999", "9" * 20, "0", "-1"]:
        c.append(Case(f"cart qty {q[:12]!r}", "s1", cart, {"sku": "TEA-250", "qty": q},
                      accept=JSON))
    c.append(Case("cart unknown product", "s1", cart, {"sku": "NOPE", "qty": "1"}, accept=JSON))
    for pay in ["bitcoin", ""]:
        c.append(Case(f"checkout, empty cart, payment {pay!r}", "s1", "/run/{r1}/buyer/checkout",
                      {"payment": pay}, accept=JSON))

    k = area["classroom"]
    clock = "/classroom/assignment/{assignment}/clock"
    inject = "/classroom/assignment/{assignment}/inject"
    for i in BAD_IDS + ["{other_run}"]:
        k.append(Case(f"pause run {i!r} (a bad id paused every group)", "teach", clock,
                      {"op": "pause", "run": i}))
        k.append(Case(f"inject into run {i!r} (a bad id widened to every group)", "teach",
                      inject, {"action": "inject_notice", "run": i, "title": "t", "body": "b"}))
    k.append(Case("clock op unknown", "teach", clock, {"op": "explode"}))
    k.append(Case("stop all without the confirmation", "teach", clock, {"op": "stop"}))
    k.append(Case("inject an unknown action", "teach", inject, {"action": "inject_money"}))
    for q in ["sNaN", "Infinity", "9" * 20, "-5"]:
        k.append(Case(f"inject stock loss qty {q[:12]!r}", "teach", inject,
                      {"action": "inject_stock_loss", "run": "{r1}", "sku": "TEA-250",
                       "qty": q}))
    adjust = "/classroom/run/{r1}/adjust"
    for i in BAD_IDS + ["{s4}"]:
        k.append(Case(f"adjust user {i!r} (became a group adjustment)", "teach", adjust,
                      {"user": i, "points": "1", "comment": "bonus"}))
    for p in ["sNaN", "NaN", "Infinity", "-Infinity", "1e999999999", "-1e999999999", "", "1,5",
              "0x10", "1001"]:
        k.append(Case(f"adjust points {p!r}", "teach", adjust,
                      {"user": "{s1}", "points": p, "comment": "why"}))
    k.append(Case("adjust without a comment", "teach", adjust, {"points": "1", "comment": " "}))
    mark = "/classroom/run/{r1}/mark"
    for step, verdict, reason in [("9" * 20, "done", "r"), ("x" * 1000, "done", "r"),
                                  ("accept", "maybe", "r"), ("accept", "done", ""),
                                  ("order", "done", "already met")]:
        k.append(Case(f"mark step {step[:12]!r} {verdict}", "teach", mark,
                      {"step": step, "verdict": verdict, "reason": reason}))
    groups = "/classroom/{class}/groups"
    for size in ["sNaN", "0", "21", "9" * 20, "-1", "1e3", ""]:
        k.append(Case(f"group size {size[:12]!r}", "teach", groups, {"size": size}))
    move = "/classroom/{class}/move"
    for i in HUGE_IDS + ["abc", "-1"]:
        k.append(Case(f"move enrollment {i!r}", "teach", move, {"enrollment": i}))
        k.append(Case(f"move into group {i!r}", "teach", move,
                      {"enrollment": "{enrollment}", "group": i}))
    k.append(Case("move another class's student", "teach", move,
                  {"enrollment": "{other_enrollment}"}))
    roles = "/classroom/{class}/roles"
    k.append(Case("roles: how unknown", "teach", roles, {"how": "scramble"}))
    for i in HUGE_IDS:
        k.append(Case(f"roles by hand, user {i!r}", "teach", roles,
                      {"how": "manual", "group": "{group}", "role-buyer": i}))
    for name in ["", "n" * 121, NUL]:
        k.append(Case(f"new class named {name[:8]!r}", "teach", "/classroom/new",
                      {"name": name}))
    for user, pw in [("", "longenough"), ("t2", "short"), (NUL, "longenough"),
                     ("u" * 65, "longenough")]:
        k.append(Case(f"new instructor {user[:8]!r}/{pw}", "root", "/classroom/instructors",
                      {"username": user, "password": pw}))
    report = "/classroom/run/{r1}/report/{s1}"
    for m in ["NaN", "sNaN", "Infinity", "1e999999999", "-1", "101", "ten"]:
        k.append(Case(f"report mark {m!r}", "teach", report, {"mark": m, "comment": "c"}))
    k.append(Case("reflection with a NUL", "s1", report, {"text": NUL}))
    k.append(Case("another instructor pauses this class", "other", clock, {"op": "pause"},
                  expect="404"))
    k.append(Case("a student adjusts her own grade", "s1", adjust,
                  {"points": "100", "comment": "me"}))

    u = area["urls"]
    gets = ["/run/{id}/buyer/", "/run/{id}/finance/ledger", "/run/{r1}/buyer/doc/{id}",
            "/run/{r1}/warehouse/stock/{id}", "/run/{id}/buyer/history", "/live/{id}",
            "/classroom/{id}", "/classroom/{id}/credentials",
            "/classroom/assignment/{id}/board", "/classroom/assignment/{id}/grades",
            "/classroom/run/{id}/repair", "/classroom/run/{id}/replay",
            "/classroom/run/{r1}/report/{id}", "/practice/run/{id}/done",
            "/practice/run/{id}/map"]
    for pattern in gets:
        who = "s1" if pattern.startswith("/run/{r1}/buyer") else "teach"
        if pattern.startswith(("/run/{id}/buyer", "/live")):
            who = "s1"
        for i in HUGE_IDS[1:] + ["2147483647"]:
            u.append(Case(f"GET {pattern} id {i}", who, pattern.replace("{id}", i),
                          method="GET", expect="404"))
    posts = ["/run/{id}/buyer/act/place_order", "/run/{id}/buyer/cart",
             "/classroom/{id}/groups", "/classroom/{id}/move",
             "/classroom/assignment/{id}/clock", "/classroom/run/{id}/adjust",
             "/classroom/run/{id}/mark", "/practice/run/{id}/show/order"]
    for pattern in posts:
        who = "s1" if pattern.startswith("/run") else (
            "learner" if pattern.startswith("/practice") else "teach")
        for i in HUGE_IDS[1:]:
            u.append(Case(f"POST {pattern} id {i}", who, pattern.replace("{id}", i),
                          {"op": "pause"}, expect="404"))
    for q in ["since=sNaN", "since=" + "9" * 30, "since=-1", "fragment=1&x=" + "y" * 5000]:
        u.append(Case(f"poll ?{q[:20]}", "s1", "/live/{r1}?" + q, method="GET",
                      expect="no5xx"))
    u.append(Case("grades ?format=pdf", "teach", "/classroom/assignment/{assignment}/grades"
                  "?format=pdf", method="GET", expect="no5xx"))
    u.append(Case("NUL in a query", "s1", "/run/{r1}/buyer/?x=%00", method="GET"))
    u.append(Case("NUL in a path", "s1", "/run/{r1}/buyer/act/pay%00order", {"doc": "1"}))
    u.append(Case("NUL in a step id", "learner", "/practice/run/{practice}/show/or%00der", {}))
    u.append(Case("an unknown step id", "learner", "/practice/run/{practice}/show/" + "x" * 300,
                  {}, expect="404"))
    u.append(Case("language xx", "s1", "/lang/xx", {"next": "/"}, expect="404"))
    u.append(Case("language NUL", "s1", "/lang/z%00h", {"next": "/"}))
    u.append(Case("another learner's practice", "s1", "/practice/run/{practice}/show/order", {},
                  expect="404"))

    up = area["uploads"]
    roster = "/classroom/{class}/roster"
    for name, body in [("empty.csv", b""), ("nul.csv", b"student_no,name\n1\x00,A\n"),
                       ("garbage.xlsx", b"PK\x03\x04 not really a zip"),
                       ("roster.pdf", b"%PDF-1.4"), ("latin1.csv", "学号,姓名\n1,é\n".encode(
                           "utf-16")), ("headerless.csv", b"1,2,3\n"),
                       ("huge-number.csv", ("student_no,name\n" + "9" * 5000 + ",A\n").encode())]:
        up.append(Case(f"roster {name}", "teach", roster, {}, files={"roster": (body, name)}))
    up.append(Case("roster file name with NUL", "teach", roster, {},
                   files={"roster": (b"student_no,name\n1,A\n", "r\x00.csv")}))
    up.append(Case("no roster file", "teach", roster, {}))
    assign = "/classroom/{class}/assign"
    scenario = (SCENARIOS / "b2c-normal.yaml").read_text(encoding="utf-8")
    for name, body in [
            ("invalid yaml", b"title: [unclosed"), ("binary", bytes(range(256))),
            ("NUL in YAML", scenario.replace("B2C", "B2\x00C").encode()),
            ("not UTF-8", scenario.encode("utf-16")),
            ("scoring .inf", scenario.replace("mistake_penalty: 1",
                                              "mistake_penalty: .inf").encode()),
            ("scoring .nan", scenario.replace("mistake_penalty: 1",
                                              "mistake_penalty: .nan").encode()),
            ("cap .inf", scenario.replace("mistake_penalty: 1", "mistake_penalty: 1\n"
                                          "  max_mistakes_per_step: .inf").encode()),
            ("time limit 1e999", scenario.replace("time_limit_minutes: 30",
                                                  "time_limit_minutes: 1e999").encode()),
            ("a list", b"- 1\n- 2\n"), ("empty", b"")]:
        up.append(Case(f"scenario upload: {name}", "teach", assign, {},
                       files={"scenario_file": (body, "s.yaml")}))
    up.append(Case("scenario from the library: unknown", "teach", assign, {"scenario": "nope"}))
    up.append(Case("scenario from the library: NUL", "teach", assign, {"scenario": NUL}))

    pe = area["people"]
    for field_, value in [("username", NUL), ("password", NUL), ("username", "u" * 65)]:
        data = {"username": "s1", "password": "pw123456", field_: value}
        pe.append(Case(f"login {field_} {value[:8]!r} (NUL: 500 on PostgreSQL)", "anon",
                       "/auth/login", data))
    reg = {"join_code": "CORPUS1", "student_no": "2026999", "name": "New", "password": "longpass1",
           "confirm": "longpass1"}
    for field_, value in [("join_code", NUL), ("student_no", NUL), ("name", NUL),
                          ("password", NUL), ("student_no", "12 34"), ("join_code", "NOPE"),
                          ("student_no", "s1"), ("name", "n" * 101), ("confirm", "other")]:
        pe.append(Case(f"register {field_} {value[:8]!r}", "anon", "/auth/register",
                       {**reg, field_: value, **({"confirm": value} if field_ == "password"
                                                 else {})}))
    for code in [NUL, "NOPE", "x" * 500]:
        pe.append(Case(f"join code {code[:8]!r}", "s1", "/auth/join", {"join_code": code}))
    for field_, value in [("current", NUL), ("password", NUL), ("current", "wrong-pass")]:
        data = {"current": "pw123456", "password": "newpass99", "confirm": "newpass99",
                field_: value}
        pe.append(Case(f"password change {field_} {value[:8]!r}", "s1", "/auth/password", data))
    for scenario_id, roles_ in [("nope", ["buyer"]), (NUL, ["buyer"]), ("b2c-normal", []),
                                ("b2c-normal", ["chef"])]:
        pe.append(Case(f"practice {scenario_id[:8]!r} {roles_}", "learner", "/practice/start",
                       {"scenario": scenario_id, "roles": roles_}))
    return area


AREAS = cases()


def test_the_corpus_has_at_least_150_cases():
    assert sum(len(v) for v in AREAS.values()) >= 150


# ---- the world ----------------------------------------------------------------------------

@pytest.fixture
def world(app):
    """A class of 周老师 with two groups running b2c-normal (group 1: s1 buyer, s2 sales, s3 mall
    admin; group 2: s4 buyer), an order placed in group 1, another instructor's class, a lab
    admin and a learner's practice run. Nothing is due for a bot."""
    app.config["SEAT_ACTIONS_PER_WINDOW"] = 0  # the door is tested in test_refusal_caps
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 is an answer to judge, as in production
    teach = make_user("teach", is_instructor=True)
    other = make_user("other", is_instructor=True)
    make_user("root", is_admin=True)
    s = {n: make_user(f"s{n}", student_no=f"2026000{n}") for n in (1, 2, 3, 4)}
    learner = make_user("learner")
    classroom = Classroom(name="一班", instructor_id=teach.id, join_code="CORPUS1")
    elsewhere = Classroom(name="二班", instructor_id=other.id, join_code="CORPUS2")
    db.session.add_all([classroom, elsewhere])
    db.session.flush()
    g1 = Group(classroom_id=classroom.id, number=1,
               roles={"buyer": s[1].id, "supplier": s[2].id, "mall_admin": s[3].id})
    g2 = Group(classroom_id=classroom.id, number=2, roles={"buyer": s[4].id})
    db.session.add_all([g1, g2])
    db.session.flush()
    for n in (1, 2, 3, 4):
        db.session.add(Enrollment(classroom_id=classroom.id, user_id=s[n].id,
                                  group_id=(g1 if n < 4 else g2).id))
    outsider = make_user("s5")
    db.session.add(Enrollment(classroom_id=elsewhere.id, user_id=outsider.id))
    other_group = Group(classroom_id=elsewhere.id, number=1, roles={"buyer": outsider.id})
    db.session.add(other_group)
    db.session.commit()
    scenario = load_file(SCENARIOS / "b2c-normal.yaml")
    assignment = work.assign(classroom, scenario, [g1, g2], teach.id)
    other_assignment = work.assign(elsewhere, scenario, [other_group], other.id)
    runs = db.session.scalars(select(Run).where(Run.assignment_id == assignment.id)
                              .order_by(Run.id)).all()
    other_run = db.session.scalars(select(Run).where(
        Run.assignment_id == other_assignment.id)).one()
    for run in [*runs, other_run]:
        start(run, teach.id)
    db.session.commit()
    r1, r2 = runs
    perform(r1.id, Actor("buyer", "student", s[1].id), "place_order", None,
                    {"lines": [{"sku": "TEA-250", "qty": 2}], "payment": "bank_transfer"})
    practice = start_run("b2c-normal", seats={r: [learner.id] for r in scenario.roles},
                         kind="solo", owner_id=learner.id)
    ids = {"r1": r1.id, "r2": r2.id, "other_run": other_run.id, "order": _order_id(r1),
           "class": classroom.id,
           "assignment": assignment.id, "practice": practice.id,
           "enrollment": db.session.scalar(select(Enrollment.id).where(
               Enrollment.user_id == s[1].id)),
           "other_enrollment": db.session.scalar(select(Enrollment.id).where(
               Enrollment.user_id == outsider.id)),
           "group": g1.id, **{f"s{n}": s[n].id for n in (1, 2, 3, 4)}}
    from lab import bots
    for run_id in (r1.id, r2.id, other_run.id, practice.id):  # the bots' bookmarks: idle
        assert bots.tick(run_id, ignore_delay=True) == 0
    clients = {"anon": app.test_client()}
    for name in ["teach", "other", "root", "s1", "s2", "s3", "s4", "learner"]:
        clients[name] = login(app.test_client(), name)
    errors: list[str] = []
    got_request_exception.connect(lambda _app, exception, **_: errors.append(
        f"{type(exception).__name__}: {str(exception)[:120]}"), app, weak=False)
    return {"ids": ids, "clients": clients, "errors": errors}


def _order_id(run) -> int:
    from tests.helpers import doc
    return doc(run, "order").id


# Kept on purpose when something is refused: a refused upload's problems are stored for the page
# it redirects to (lab/classroom/uploads.py), read once and forgotten after a day.
REPORTS = {"upload_report"}


def snapshot() -> dict[str, tuple[int, str]]:
    """Every table: (rows, hash of the rows), as committed. Refused events are left out: a
    refused student action is a mistake on the record by design; so are upload reports."""
    db.session.rollback()
    out = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in REPORTS:
                continue
            query = select(table)
            if table.name == "event":
                query = query.where(table.c.ok.is_(True))
            rows = conn.execute(query.order_by(*table.primary_key.columns)).all()
            out[table.name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def fill(value, ids):
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), value)
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def send(world, case: Case):
    client = world["clients"][case.who]
    url = fill(case.url, world["ids"])
    if case.method == "GET":
        return client.get(url, headers=case.accept)
    data = {k: fill(v, world["ids"]) for k, v in (case.data or {}).items()}
    data.setdefault("csrf_token", csrf_token(client, "/auth/login" if case.who == "anon"
                                             else "/"))
    for name, (body, filename) in case.files.items():
        data[name] = (io.BytesIO(body), filename)
    return client.post(url, data=data, headers=case.accept,
                       content_type="multipart/form-data" if case.files else None)


def judge(world, case: Case, response) -> str | None:
    """What is wrong with the answer, or None."""
    status = response.status_code
    if status >= 500:
        return f"answered {status}"
    if case.expect == "404":
        return None if status == 404 else f"answered {status}, not 404"
    if case.expect == "no5xx":
        return None
    if 400 <= status < 500:
        return None
    if status == 303:  # a form sent back to its page: the page must say why
        client = world["clients"][case.who]
        page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
        if any(mark in page for mark in ("alert-danger", "alert-warning", 'id="action-error"',
                                         "list-group-item-danger")):
            return None
        return "sent back (303) without a message"
    return f"answered {status}, not a refusal"


@pytest.mark.parametrize("area", list(AREAS))
def test_bad_input_is_refused_and_changes_nothing(world, area):
    failures = []
    for case in AREAS[area]:
        before = snapshot()
        world["errors"].clear()
        response = send(world, case)
        after = snapshot()
        changed = [t for t in before if before[t] != after[t]]
        wrong = judge(world, case, response)
        if world["errors"]:
            wrong = f"{wrong} ({'; '.join(world['errors'])})"
        if changed or wrong:
            failures.append(f"{case.id}: {wrong or 'answered ' + str(response.status_code)}"
                            + (f"; changed {', '.join(changed)}" if changed else ""))
        location = response.headers.get("Location", "")
        if any(ch in location for ch in "\r\n"):
            failures.append(f"{case.id}: a line break in Location")
    assert not failures, f"{len(failures)} of {len(AREAS[area])} cases:\n" + "\n".join(failures)


# ---- findings that are not "nothing changes" ------------------------------------------------

def test_cr_lf_in_next_after_a_saved_action_redirects_home_once(world):
    """The action is valid and is saved once; the broken `next` is ignored (no 500 after the
    commit, no header injected)."""
    ids, client = world["ids"], world["clients"]["s2"]
    r = client.post(f"/run/{ids['r1']}/supplier/act/accept_order",
                    data={"doc": ids["order"], "next": "/run/1/supplier/\r\nSet-Cookie: owned=1",
                          "csrf_token": csrf_token(client, "/")})
    assert r.status_code == 302, r.status_code
    assert r.headers["Location"].endswith(f"/run/{ids['r1']}/supplier/")
    assert "owned" not in r.headers.get("Set-Cookie", "")
    from tests.helpers import doc
    assert doc(db.session.get(Run, ids["r1"]), "order").state == "accepted"


@pytest.mark.parametrize("target", ["/\\evil.example", "/ok\nSet-Cookie: x=1", "/ok\rx",
                                    "/ok\tx", "//evil.example", "https://evil.example/"])
def test_safe_next_refuses_breaks_and_backslashes(target):
    from lab.views import safe_next
    assert safe_next(target, "/home") == "/home"
    assert safe_next("/run/1/buyer/doc/2", "/home") == "/run/1/buyer/doc/2"


def test_a_formula_in_a_scenario_title_stays_text_in_every_export(app):
    """The audit's finding: the title in the XLSX's first cell became a live formula."""
    from openpyxl import load_workbook
    teacher = make_user("teach", is_instructor=True)
    student = make_user("s1", name="@SUM(1+1)\x01", student_no="+1")
    classroom = Classroom(name="一班", instructor_id=teacher.id, join_code="FORMULA")
    db.session.add(classroom)
    db.session.flush()
    group = Group(classroom_id=classroom.id, number=1, roles={"buyer": student.id})
    db.session.add(group)
    db.session.commit()
    text = (SCENARIOS / "b2c-normal.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^title:.*(\n  .*)*", 'title: "=HYPERLINK(\\"http://x\\",\\"go\\")"', text)
    from lab.scenario import validate
    scenario, problems = validate(text)
    assert scenario is not None, problems
    assignment = work.assign(classroom, scenario, [group], teacher.id)
    run = db.session.scalars(select(Run).where(Run.assignment_id == assignment.id)).one()
    db.session.add(Adjustment(run_id=run.id, user_id=None, points=1, comment="-2+3",
                              by_id=teacher.id))
    db.session.commit()
    client = login(app.test_client(), "teach")
    url = f"/classroom/assignment/{assignment.id}/grades"
    book = load_workbook(io.BytesIO(client.get(url + "?format=xlsx").data))
    for sheet in book.worksheets:
        assert sheet["A1"].value == "'=HYPERLINK(\"http://x\",\"go\")"
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.value[:1] not in ("=", "+", "-", "@", "\t", "\r"), cell.value
    rows = list(csv.reader(io.StringIO(client.get(url + "?format=csv").data.decode("utf-8-sig"))))
    for row in rows:
        for value in row:
            assert value[:1] not in ("=", "+", "-", "@", "\t", "\r"), value
    header = rows[0]
    assert rows[1][header.index("name")] == "'@SUM(1+1)"
    assert rows[1][header.index("student_no")] == "'+1"


def test_a_bad_run_id_never_pauses_every_group(world):
    ids, client = world["ids"], world["clients"]["teach"]
    r = client.post(f"/classroom/assignment/{ids['assignment']}/clock",
                    data={"op": "pause", "run": "abc", "csrf_token": csrf_token(client, "/")})
    assert r.status_code == 404
    db.session.expire_all()
    assert {db.session.get(Run, ids[r]).status for r in ("r1", "r2")} == {"running"}


def test_a_bad_user_id_never_becomes_a_group_adjustment(world):
    ids, client = world["ids"], world["clients"]["teach"]
    r = client.post(f"/classroom/run/{ids['r1']}/adjust",
                    data={"user": "1.0", "points": "-50", "comment": "late",
                          "csrf_token": csrf_token(client, "/")})
    assert r.status_code == 404
    assert db.session.query(Adjustment).count() == 0
