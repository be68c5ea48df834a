"""Issue 13: the audit's security probes, kept as tests.

1. XSS crawl. A distinctive payload goes into every text a user can set and someone else sees:
   a class name, names and e-mails of a roster import, a self-registered student's name, a new
   instructor's name, an uploaded scenario (title, summary, objectives, company, customer,
   vendor and product names, step hints), a product a student publishes, notices (a student's and
   an injected one), a return request's and a rejection's reason, a review, a grade adjustment,
   a step marked by hand, a reflection and its mark comment, the reason of a reset, and a
   refused action whose refusal repeats what the student typed. Then every persona (the
   instructor, each student in a seat, the self-registered student, another instructor, a
   self-learner, the admin) crawls every page it can reach: links from its home page, and every
   GET route of the URL map with the real ids. No page may carry the payload unescaped
   (`<script>…`, an `<img onerror>` attribute, a template expression rendered as 49, a
   `javascript:` link), and the CSV and XLSX grade sheets must hold no live formula.
2. CSRF probes. Every POST route of the URL map (so a new route cannot be forgotten), sent by a
   user who may use it with a form that would work, (a) without the token, (b) with a wrong one,
   (c) with another user's valid one: each is refused with the lab's "missing security token"
   answer and the database is unchanged; the same form with the sender's own token then gets
   past the check (so the refusal was the token's).
3. SQL injection probes. Classic payloads in every query parameter, URL id segment and form field
   of the lab's lookups (login, registration, join codes, documents, products, students, groups,
   runs, steps, scenarios, rosters…): each gets an answer below 500 with no SQL error text, shows
   nothing of another class, logs nobody in and changes nothing (a refused student action is on
   the record by design, as in tests/test_bad_input_corpus.py); where a text is meant to be kept
   (a class's name, a student's name) it is kept verbatim.

Every test runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set (the `app` fixture)."""
from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote, urlsplit

import yaml
from flask import got_request_exception
from sqlalchemy import select

from lab.extensions import db
from lab.models import (Assignment, Classroom, Document, Enrollment, Group, Product, Run, Seat,
                        User)
from lab.models.run import ROLES
from lab.scenario import load_file
from tests.helpers import SCENARIOS, csrf_token, login, make_user, play
from tests.test_authorization_matrix import Snapshot, build_world

EN = {"Accept-Language": "en"}


def no_errors_collected(app) -> list[str]:
    """The exceptions of the requests from now on (a 500 is an answer to judge)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    errors: list[str] = []
    got_request_exception.connect(lambda _app, exception, **_: errors.append(
        f"{type(exception).__name__}: {str(exception)[:160]}"), app, weak=False)
    return errors


def idle_bots() -> None:
    """Every run's bots have looked and found nothing due (a poll then changes nothing)."""
    from lab import bots
    for run_id in db.session.scalars(select(Run.id)).all():
        bots.tick(run_id, ignore_delay=True)


# =============================================================================================
# 1. XSS crawl
# =============================================================================================

def payload(tag: str) -> str:
    """One field's payload: a script element, an attribute breakout, a template expression and
    a javascript: URL, each marked with the field's tag (so a finding names the field)."""
    return f'<script>{tag}</script>"><img src=x onerror={tag}>{{{{7*7}}}}{tag} javascript:{tag}'


TAG = r"xs\d\d"
RAW = [  # what must never be found on a page: the payload as markup, or evaluated
    ("a <script> element", re.compile(rf"<script>({TAG})")),
    ("an <img onerror> attribute", re.compile(rf"<img src=x onerror=({TAG})")),
    ("a template expression evaluated", re.compile(rf"49({TAG})")),
    ("a javascript: link", re.compile(rf"""(?:href|src|action)\s*=\s*["']?\s*javascript:({TAG})""",
                                      re.I)),
]
FIELDS: dict[str, str] = {}  # tag → the field it was put in


def put(field: str) -> str:
    tag = f"xs{len(FIELDS):02d}"
    FIELDS[tag] = field
    return payload(tag)


def hostile_scenario() -> str:
    """b2c-normal with a payload in every text of the scenario format, and a mall notice as its
    last step (so the mall admin has a seat: a class run seats the roles with a step)."""
    data = yaml.safe_load((SCENARIOS / "b2c-normal.yaml").read_text(encoding="utf-8"))
    data["title"] = {"en": put("scenario title (en)"), "zh": put("scenario title (zh)")}
    data["summary"] = {"en": put("scenario summary"), "zh": put("scenario summary (zh)")}
    data["objectives"] = [{"en": put("scenario objective"), "zh": put("objective (zh)")}]
    world = data["world"]
    world["company"]["name"] = {"en": put("company name"), "zh": put("company name (zh)")}
    world["buyer"]["name"] = {"en": put("customer name"), "zh": put("customer name (zh)")}
    world["vendors"][0]["name"] = {"en": put("vendor name"), "zh": put("vendor name (zh)")}
    for product in world["products"]:
        product["name"] = {"en": put(f"product {product['sku']}"),
                           "zh": put(f"product {product['sku']} (zh)")}
    data["script"].append({"id": "notice", "role": "mall_admin", "action": "post_notice",
                           "with": {"title": "Spring", "body": "Tea"}, "points": 5})
    for step in data["script"]:
        step["hint"] = {"en": put(f"hint of step {step['id']}"),
                        "zh": put(f"hint of step {step['id']} (zh)")}
    data["roles"] = [*data["roles"], "mall_admin"]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def findings(text: str) -> list[str]:
    out = []
    for what, pattern in RAW:
        for match in pattern.finditer(text):
            out.append(f"{what} from {FIELDS.get(match.group(1), match.group(1))}")
    return sorted(set(out))


NUMBER = re.compile(r"-?\d+(\.\d+)?")  # a negative number is no formula


class Crawler:
    """Every page a client reaches from its start pages by links (GET, this site), each checked
    for raw payloads; exports are checked for formulas."""

    SKIP = ("/static/", "/bootstrap/", "/auth/logout", "/lang/")

    def __init__(self, errors: list[str]):
        self.errors = errors
        self.problems: list[str] = []
        self.pages = 0
        self.exports = 0
        self.shown: set[str] = set()  # tags whose payload was seen escaped

    def check(self, who: str, url: str, response) -> None:
        if response.status_code >= 500:
            self.problems.append(f"{who} GET {url}: {response.status_code} {self.errors[-1:]}")
        if url.split("?")[0].endswith("/grades") and "format=" in url:
            self.check_export(who, url, response)
            return
        text = response.get_data(as_text=True)
        for finding in findings(text):
            self.problems.append(f"{who} GET {url} ({response.mimetype}): {finding}")
        self.shown.update(re.findall(rf"&lt;script&gt;({TAG})", text))

    def check_export(self, who: str, url: str, response) -> None:
        if response.status_code != 200:
            return
        self.exports += 1
        if "xlsx" in url:
            from openpyxl import load_workbook
            book = load_workbook(io.BytesIO(response.data))
            cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
            assert cells, url
            for cell in cells:
                if cell.data_type == "f":
                    self.problems.append(f"{who} {url}: live formula {cell.value!r}")
            values = [c.value for c in cells if isinstance(c.value, str)]
        else:
            rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
            assert len(rows) > 1, url
            values = [v for row in rows for v in row]
        for value in values:
            if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(value):
                self.problems.append(f"{who} {url}: cell {value[:40]!r} starts a formula")
        if not any("xs" in v and "<script>" in v for v in values):
            self.problems.append(f"{who} {url}: the payloads are not in the export "
                                 "(so it checked nothing)")

    def crawl(self, who: str, client, starts: list[str], limit: int = 120,
              language: str = "en") -> int:
        headers = {"Accept-Language": language}
        seen: set[str] = set()
        queue = list(starts)
        count = 0
        while queue and count < limit:
            url = queue.pop(0)
            if url in seen or url.startswith(self.SKIP):
                continue
            seen.add(url)
            response = client.get(url, headers=headers)
            db.session.rollback()
            count += 1
            self.check(who, url, response)
            if response.status_code in (301, 302, 303):
                location = urlsplit(response.headers["Location"])
                queue.append(location.path + (f"?{location.query}" if location.query else ""))
                continue
            if response.mimetype not in ("text/html", "application/json"):
                continue
            body = response.get_data(as_text=True).replace("\\/", "/")
            for link in re.findall(r'(?:href|data-url|data-src|data-poll)="(/[^"#]*)', body):
                link = link.replace("&amp;", "&")
                if link not in seen:
                    queue.append(link)
        self.pages += count
        return count


def _post(client, url, data=None, files=None, who="", crawler=None, **kwargs):
    """POST a form (with the client's token) and check the page it lands on (flashes)."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client, "/"))
    for name, (body, filename) in (files or {}).items():
        data[name] = (io.BytesIO(body), filename)
    response = client.post(url, data=data, headers=EN, follow_redirects=True,
                           content_type="multipart/form-data" if files else None, **kwargs)
    db.session.rollback()
    assert response.status_code < 500, (url, response.status_code)
    if crawler is not None:
        crawler.pages += 1
        crawler.check(who, url + " (POST, then the page it lands on)", response)
    return response


def build_hostile_class(app, crawler):
    """Everything through the lab's forms, as its users would, with a payload in every text."""
    FIELDS.clear()
    teacher = make_user("teacher", name=put("instructor's own name"), is_instructor=True)
    make_user("boss", is_admin=True)
    make_user("learner", name=put("self-learner's name"))
    other_teacher = make_user("teacher2", is_instructor=True)
    db.session.add(Classroom(name="their class", instructor_id=other_teacher.id,
                             join_code="OTHERCODE1"))
    db.session.commit()
    t = login(app.test_client(), "teacher")
    boss = login(app.test_client(), "boss")
    _post(boss, "/classroom/instructors", {"username": "teacher3", "password": "longenough1",
                                           "name": put("new instructor's name")}, who="admin",
          crawler=crawler)
    _post(t, "/classroom/new", {"name": put("class name")}, who="teacher", crawler=crawler)
    classroom = db.session.scalar(select(Classroom).where(Classroom.instructor_id == teacher.id))
    assert classroom is not None and classroom.name.startswith("<script>")
    lines = ["student_no,name,email"]
    for i in range(13):
        name = put(f"roster name, line {i + 2}").replace('"', '""')
        email = f"s{i}-{put(f'roster e-mail, line {i + 2}')}@example.com".replace('"', '""')
        lines.append(f'2026{i:04d},"{name}","{email}"')
    lines.append('20260099,"=HYPERLINK(""http://x"",""go"")",')  # a formula for the exports
    _post(t, f"/classroom/{classroom.id}/roster",
          files={"roster": ("\n".join(lines).encode(), "roster.csv")}, who="teacher",
          crawler=crawler)
    assert db.session.query(Enrollment).filter_by(classroom_id=classroom.id).count() == 14
    # One more student registers with the join code.
    joiner = app.test_client()
    response = joiner.post("/auth/register", data={
        "join_code": classroom.join_code, "student_no": "2026REG", "name": put(
            "registered student's name"), "password": "longpass1", "confirm": "longpass1",
        "csrf_token": csrf_token(joiner, "/auth/register")}, headers=EN, follow_redirects=True)
    assert response.status_code == 200, response.status_code
    crawler.check("registered", "/auth/register (after POST)", response)
    _post(t, f"/classroom/{classroom.id}/groups", {"size": "8"}, who="teacher", crawler=crawler)
    group_ids = sorted(db.session.scalars(select(Group.id).where(
        Group.classroom_id == classroom.id)))
    assert len(group_ids) == 2
    _post(t, f"/classroom/{classroom.id}/assign", files={"scenario_file": (
        hostile_scenario().encode(), "hostile.yaml")}, who="teacher", crawler=crawler)
    assignment = db.session.scalar(select(Assignment).where(
        Assignment.classroom_id == classroom.id))
    assert assignment is not None, "the hostile scenario was refused"
    _post(t, f"/classroom/assignment/{assignment.id}/clock", {"op": "start"}, who="teacher")
    runs = db.session.scalars(select(Run).where(Run.assignment_id == assignment.id)
                              .order_by(Run.id)).all()
    assert len(runs) == 2 and all(r.status == "running" for r in runs)
    r1, r2 = runs
    holders = {run.id: {s.role: s.user_id for s in run.seats} for run in runs}
    students = {}

    def student(run, role):
        user_id = holders[run.id][role]
        if user_id not in students:
            students[user_id] = student_client(app, user_id)
        return students[user_id]

    # Group 1 plays the whole scenario; then texts of its own.
    play(r1)
    order = db.session.scalar(select(Document).where(Document.run_id == r1.id,
                                                     Document.kind == "order"))
    base = f"/run/{r1.id}"
    _post(student(r1, "buyer"), f"{base}/buyer/act/review_order",
          {"doc": order.id, "rating": "4", "text": put("review text")}, who="buyer",
          crawler=crawler)
    _post(student(r1, "mall_admin"), f"{base}/mall_admin/act/post_notice",
          {"title": put("student notice title"), "body": put("student notice body")},
          who="mall_admin", crawler=crawler)
    _post(student(r1, "mall_admin"), f"{base}/mall_admin/act/publish_product",
          {"sku": "NEW-1", "name": put("published product name"), "price": "9.00",
           "stock": "3"}, who="mall_admin", crawler=crawler)
    inject = f"/classroom/assignment/{assignment.id}/inject"
    _post(t, inject, {"action": "inject_notice", "title": put("injected notice title"),
                      "body": put("injected notice body")}, who="teacher", crawler=crawler)
    _post(t, inject, {"action": "inject_return_request", "run": r1.id, "number": order.number,
                      "reason": put("injected return reason")}, who="teacher", crawler=crawler)
    _post(t, inject, {"action": "inject_return_request", "run": r1.id,
                      "number": put("document number of an injection")[:60],
                      "reason": "x"}, who="teacher", crawler=crawler)
    ret = db.session.scalar(select(Document).where(Document.run_id == r1.id,
                                                   Document.kind == "return"))
    assert ret is not None, "the return request was not injected"
    _post(student(r1, "supplier"), f"{base}/supplier/act/reject_return",
          {"doc": ret.id, "reason": put("rejection reason")}, who="supplier", crawler=crawler)
    buyer1 = holders[r1.id]["buyer"]
    _post(t, f"/classroom/run/{r1.id}/adjust", {"user": buyer1, "points": "2",
                                                "comment": put("adjustment comment")},
          who="teacher", crawler=crawler)
    _post(t, f"/classroom/run/{r1.id}/adjust", {"points": "-1",
                                                "comment": put("group adjustment comment")},
          who="teacher", crawler=crawler)
    _post(student(r1, "buyer"), f"/classroom/run/{r1.id}/report/{buyer1}",
          {"text": put("reflection")}, who="buyer", crawler=crawler)
    _post(t, f"/classroom/run/{r1.id}/report/{buyer1}",
          {"mark": "90", "comment": put("mark comment")}, who="teacher", crawler=crawler)
    # Group 2: a refused order that repeats what was typed, a step marked by hand, a reset.
    _post(student(r2, "buyer"), f"/run/{r2.id}/buyer/act/place_order",
          {"sku": put("typed sku")[:64], "qty": "1", "payment": "bank_transfer"}, who="buyer2",
          crawler=crawler)
    play(r2, until="pay")
    _post(t, f"/classroom/run/{r2.id}/mark", {"step": "pay", "verdict": "skipped",
                                              "reason": put("reason of a step marked")},
          who="teacher", crawler=crawler)
    _post(t, f"/classroom/run/{r2.id}/reset", {"step": "accept", "confirm": "yes",
                                               "reason": put("reason of a reset")},
          who="teacher", crawler=crawler)
    return {"teacher": t, "admin": boss, "classroom": classroom, "assignment": assignment,
            "runs": [r1, r2], "holders": holders, "students": students, "joiner": joiner}


def student_client(app, user_id):
    """A student's browser, logged in with the password the roster import gave (or her own)."""
    user = db.session.get(User, user_id)
    first = db.session.scalar(select(Enrollment.initial_password).where(
        Enrollment.user_id == user_id, Enrollment.initial_password.is_not(None)))
    return login(app.test_client(), user.username, first or "longpass1")


def url_map_pages(app, run_ids: list[int], extra: dict) -> list[str]:
    """Every GET route of the URL map, with each real id it can take."""
    adapter = app.url_map.bind("localhost")
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", "bootstrap.static"):
            continue
        for run_id in run_ids if "run_id" in rule.arguments else [None]:
            values = {"run_id": run_id, **extra}
            if "doc_id" in rule.arguments:
                choices = db.session.scalars(select(Document.id).where(
                    Document.run_id == run_id)).all()
                key = "doc_id"
            elif "product_id" in rule.arguments:
                choices = db.session.scalars(select(Product.id).where(
                    Product.run_id == run_id)).all()
                key = "product_id"
            elif "user_id" in rule.arguments:
                choices = db.session.scalars(select(Seat.user_id).where(
                    Seat.run_id == run_id).distinct()).all()
                key = "user_id"
            else:
                choices, key = [None], None
            for choice in choices:
                if key:
                    values[key] = choice
                if any(values.get(a) is None for a in rule.arguments):
                    continue
                pages.append(adapter.build(rule.endpoint, {a: values[a] for a in rule.arguments}))
    return sorted(set(pages))


def test_no_page_carries_a_users_payload_unescaped(app):
    errors = no_errors_collected(app)
    app.config["SEAT_ACTIONS_PER_WINDOW"] = 0
    crawler = Crawler(errors)
    world = build_hostile_class(app, crawler)
    assert not crawler.problems, "\n".join(crawler.problems)
    classroom, assignment = world["classroom"], world["assignment"]
    run_ids = [r.id for r in db.session.scalars(select(Run).order_by(Run.id))]  # + archived
    learner = login(app.test_client(), "learner")
    _post(learner, "/practice/start", {"scenario": "b2c-normal", "roles": list(ROLES)})
    practice = db.session.scalar(select(Run).where(Run.kind == "solo"))
    extra = {"class_id": classroom.id, "assignment_id": assignment.id, "code": "en",
             "report_id": 1, "step_id": "order"}
    from lab.models import UploadReport
    report = db.session.scalar(select(UploadReport.id).order_by(UploadReport.id))
    if report:
        extra["report_id"] = report
    everything = url_map_pages(app, run_ids, extra)
    grades = f"/classroom/assignment/{assignment.id}/grades"
    exports = [grades + "?format=csv", grades + "?format=xlsx"]
    board = f"/classroom/assignment/{assignment.id}/board?fragment=1"
    personas = {"teacher": world["teacher"], "admin": world["admin"],
                "teacher2": login(app.test_client(), "teacher2"),
                "registered": world["joiner"], "learner": learner}
    for user_id in sorted({u for h in world["holders"].values() for u in h.values()}):
        name = db.session.get(User, user_id).username
        personas[name] = world["students"].get(user_id) or student_client(app, user_id)
    per_persona = {}
    for n, (who, client) in enumerate(personas.items()):
        starts = ["/"]
        if who in ("teacher", "admin"):
            starts += [*exports, board, *everything]
        elif who == "learner":
            starts += [p for p in url_map_pages(app, [practice.id], extra) if "/run/" in p]
        else:  # a student: her own run's consoles, and (refused) the rest of the map
            mine = [r for r, h in world["holders"].items() if who in {
                db.session.get(User, u).username for u in h.values()}]
            starts += [p for p in url_map_pages(app, mine, extra) if "/run/" in p
                       and "/live" not in p][:40]
        # Every other student reads the lab in Chinese (the zh texts of the scenario).
        per_persona[who] = crawler.crawl(who, client, starts, limit=max(120, len(starts) + 40),
                                         language="zh" if n % 2 else "en")
    print(f"\nXSS crawl ({app.backend}): {len(FIELDS)} fields with a payload, "
          f"{len(everything)} GET URLs from the URL map, "
          f"{crawler.pages} pages checked ({crawler.exports} exports), per persona: "
          + ", ".join(f"{k} {v}" for k, v in per_persona.items()))
    assert not crawler.problems, f"{len(crawler.problems)} problems:\n" + "\n".join(
        sorted(set(crawler.problems))[:80])
    assert crawler.exports >= 2
    assert crawler.pages >= 150, f"only {crawler.pages} pages crawled"
    # The payloads are on the pages, escaped: the crawl looked where they are.
    unseen = sorted(FIELDS[t] for t in FIELDS if t not in crawler.shown)
    print(f"payloads never seen (escaped) on a page: {unseen}")
    assert len(unseen) <= len(FIELDS) // 4, f"payloads never shown escaped: {unseen}"


# =============================================================================================
# 2. CSRF probes
# =============================================================================================

CSRF_REFUSED = "missing security token"


def _roster_file():
    return {"roster": (b"student_no,name\n20269991,New Student\n", "roster.csv")}


# Every POST route: who sends it (context, persona) and a form that would work. A POST route
# missing here fails the test: a new form cannot be forgotten.
CLASS_ROLES = set(load_file(SCENARIOS / "b2c-normal.yaml").roles)
CSRF_FORMS = {
    "auth.register_learner": ("anon", {"username": "learner9", "password": "longpass1",
                                       "confirm": "longpass1"}),
    "admin.lock": (("class", "admin"), {}),  # names no account: locks nobody
    "admin.unlock": (("class", "admin"), {}),
    "admin.settings": (("class", "admin"), {"self_registration": "on"}),
    "lti.platforms_page": (("class", "admin"), {}),  # an empty form: refused (400), none saved
    "lti.delete_platform": (("class", "admin"), {}),  # names no platform: removes nothing
    "reset.forgot": ("anon", {"who": "s00"}),
    "reset.reset": ("anon", {"password": "longpass1", "confirm": "longpass1"}),
    "auth.login": ("anon", {"username": "s00", "password": "pw123456"}),
    "auth.register": ("anon", {"join_code": "AAAAABBBBB", "student_no": "2026777",
                               "name": "New", "password": "longpass1", "confirm": "longpass1"}),
    "auth.join": (("practice", "other_learner"), {"join_code": "CCCCCDDDDD"}),
    "auth.password": (("practice", "other_learner"), {
        "current": "pw123456", "password": "newpass999", "confirm": "newpass999"}),
    "auth.logout": ("fresh", {}),
    "auth.try_now": ("anon", {}),
    "auth.keep": (("practice", "other_learner"), {"username": "kept1", "password": "longpass1",
                                                  "confirm": "longpass1"}),
    "main.set_language": (("class", "seat_holder"), {"next": "/"}),
    "practice.start": (("practice", "other_learner"), {"scenario": "b2c-normal",
                                                       "roles": ["buyer"]}),
    "practice.show_me": (("practice", "practice_owner"), {"role": "buyer"}),
    "practice.restart": (("practice", "practice_owner"), {}),
    "practice.abandon": (("practice", "practice_owner"), {}),
    "classroom.new_class": (("class", "owning_instructor"), {"name": "New class"}),
    "classroom.new_instructor": (("class", "admin"), {"username": "t9", "name": "T",
                                                     "password": "longenough1"}),
    "classroom.assign": (("class", "owning_instructor"), {"scenario": "b2c-normal"}),
    "classroom.form_groups": (("class", "owning_instructor"), {"size": "7"}),
    "classroom.rotate_join_code": (("class", "owning_instructor"), {}),
    "classroom.set_time_zone": (("class", "owning_instructor"), {"time_zone": "Europe/London"}),
    "classroom.reset_password": (("class", "owning_instructor"), {}),
    "classroom.move": (("class", "owning_instructor"), "matrix"),
    "classroom.roles": (("class", "owning_instructor"), {"how": "balance"}),
    "classroom.roster": (("class", "owning_instructor"), "roster"),
    "classroom.clock": (("class", "owning_instructor"), {"op": "pause", "run": "{run_id}"}),
    "classroom.inject": (("class", "owning_instructor"), {"action": "inject_notice",
                                                         "title": "t", "body": "b"}),
    "classroom.adjust": (("class", "owning_instructor"), {"points": "1", "comment": "c"}),
    "classroom.mark_step": (("class", "owning_instructor"), {
        "step": "{step_id}", "verdict": "skipped", "reason": "r"}),
    "classroom.report": (("class", "owning_instructor"), {"mark": "80", "comment": "c"}),
    "classroom.reset_run": (("class", "owning_instructor"), {
        "step": "{step_id}", "confirm": "yes", "reason": "r"}),
    # a console's form, sent by its seat holder: in the matrix's class run (b2c-normal) for the
    # roles it plays, in the practice run (every seat) for the others
    **{f"{role}.act": (("class", "seat_holder") if role in CLASS_ROLES else
                       ("practice", "practice_owner"), {"doc": "{doc_id}"}) for role in ROLES},
    "buyer.cart": (("class", "seat_holder"), {"sku": "TEA-250", "qty": "1"}),
    "buyer.checkout": (("class", "seat_holder"), {"payment": "bank_transfer"}),
    "buyer.certificate": (("class", "seat_holder"), {"password": "secret1",
                                                     "password2": "secret1"}),
}
# Sent last, in this order: they end or change sessions and runs.
# Last, in this order: what spends the practice run, resets the class run or ends a session.
LAST = ("practice.restart", "practice.abandon", "classroom.reset_run", "auth.password",
        "auth.logout")


# POSTed cross-site by a learning platform, which holds no token of the lab's: exempt from the
# CSRF check (lab/lti/launch.py). What protects them instead (the platform's signature, the
# state cookie, the one-time nonce) is tested in tests/test_lti.py; here, sent with no token and
# no launch, each is refused by that protection (400, the refusal page) and changes nothing.
CSRF_EXEMPT = {"lti.login", "lti.launch"}


def _fill(value, values):
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), value)
    return value


def _send(client, url: str, form: dict, roster: bool, token: str | None):
    sent = dict(form)
    if token is not None:
        sent["csrf_token"] = token
    if roster:
        sent.update({k: (io.BytesIO(b), n) for k, (b, n) in _roster_file().items()})
    response = client.post(url, data=sent, headers=EN)
    db.session.rollback()
    return response


def test_every_post_without_the_senders_token_is_refused_and_changes_nothing(app):
    from tests.test_authorization_matrix import build_url, route_role
    contexts, forms, _clients = build_world(app)
    ctx = {c.name: c for c in contexts}
    idle_bots()
    adapter = app.url_map.bind("localhost")
    posts = sorted(((r.endpoint, r) for r in app.url_map.iter_rules() if "POST" in r.methods),
                   key=lambda x: (x[0] in LAST, LAST.index(x[0]) if x[0] in LAST else 0, x[0]))
    unknown = sorted({e for e, _ in posts} - CSRF_FORMS.keys() - CSRF_EXEMPT)
    assert not unknown, f"POST routes without a CSRF probe form in CSRF_FORMS: {unknown}"
    errors = no_errors_collected(app)
    teacher_token = ctx["class"].clients["owning_instructor", "buyer"][1]
    snapshot = Snapshot()
    probes, problems = 0, []
    for endpoint, rule in posts:
        if endpoint in CSRF_EXEMPT:
            before = snapshot()
            response = _send(app.test_client(), rule.rule, {}, False, None)
            probes += 1
            if response.status_code != 400 or 'id="lti-refused"' not in response.get_data(
                    as_text=True) or snapshot() != before:
                problems.append(f"POST {rule.rule} [{endpoint}] (CSRF-exempt) with no launch: "
                                f"answered {response.status_code}, not the LTI refusal")
            continue
        sender, data = CSRF_FORMS[endpoint]
        role = route_role(endpoint)
        context = ctx["practice" if isinstance(sender, tuple) and sender[0] == "practice"
                      else "class"]
        if sender in ("anon", "fresh"):
            client = app.test_client()
            if sender == "fresh":
                login(client, "teacher2")
            own = csrf_token(client, "/auth/login" if sender == "anon" else "/")
            other = teacher_token
        else:
            client, own = context.clients[sender[1], role]
            other = teacher_token if sender[1] != "owning_instructor" else \
                context.clients["seat_holder", "buyer"][1]
        assert other != own
        url = build_url(adapter, rule, "POST", context, role)
        values = dict(context.values, action=context.role_action[role])
        form = forms.get(endpoint, {}) if data == "matrix" else \
            {} if data == "roster" else {k: _fill(v, values) for k, v in data.items()}
        tampered = own[:-6] + ("AAAAAA" if not own.endswith("AAAAAA") else "BBBBBB")

        before = snapshot()
        for name, token in (("no token", None), ("a wrong token", tampered),
                            ("another user's token", other)):
            errors.clear()
            response = _send(client, url, form, data == "roster", token)
            probes += 1
            if response.status_code != 400 or CSRF_REFUSED not in response.get_data(
                    as_text=True):
                problems.append(f"POST {url} [{endpoint}] with {name}: answered "
                                f"{response.status_code}, not the CSRF refusal {errors[-1:]}")
        if snapshot() != before:
            problems.append(f"POST {url} [{endpoint}]: refused, yet the database changed")
        # The same form with the sender's own token gets past the check (so the refusals were
        # the token's).
        response = _send(client, url, form, data == "roster", own)
        if response.status_code == 400 and CSRF_REFUSED in response.get_data(as_text=True) \
                or response.status_code >= 500:
            problems.append(f"POST {url} [{endpoint}] with the sender's own token: "
                            f"{response.status_code} {errors[-1:]}")
    snapshot.close()
    print(f"\nCSRF probes ({app.backend}): {len(posts)} POST routes, {probes} probes, "
          f"{len(problems)} problems")
    assert not problems, "\n".join(problems)
    assert probes >= 84


# =============================================================================================
# 3. SQL injection probes
# =============================================================================================

SQLI = ["' OR '1'='1", "' OR 1=1--", "\" OR \"\"=\"", "1; DROP TABLE \"user\"--",
        "1 UNION SELECT username, password_hash FROM \"user\"--", "%27", "1'", "admin'--",
        "') OR ('a'='a", "1 AND 1=CAST((SELECT version()) AS int)", "'; SELECT pg_sleep(3)--",
        "1\x00", "１' OR '１'='１", "*/ OR 1=1 /*"]
SQL_ERROR = re.compile(r"sqlite3?\.|OperationalError|ProgrammingError|DataError|psycopg|"
                       r"syntax error|unrecognized token|SQL syntax|Traceback|sqlalchemy|"
                       r"unterminated quoted", re.I)
SECRET = "7QX-SECRET"  # in another instructor's class: no probe may show it

# (name, who, method, url, form): {p} the payload in a form, {q} URL-encoded; who is
# "anon", "student" (the buyer of group 1), "supplier", "teacher" (the class's instructor) or
# "learner" (a self-learner with a practice run).
SQLI_TARGETS = [
    ("login username", "anon", "POST", "/auth/login", {"username": "{p}", "password": "{p}"}),
    ("login password", "anon", "POST", "/auth/login", {"username": "s00", "password": "{p}"}),
    ("login ?next", "anon", "GET", "/auth/login?next={q}", None),
    ("register join code", "anon", "POST", "/auth/register", {
        "join_code": "{p}", "student_no": "2026555", "name": "N", "password": "longpass1",
        "confirm": "longpass1"}),
    ("register student number", "anon", "POST", "/auth/register", {
        "join_code": "AAAAABBBBB", "student_no": "{p}", "name": "N", "password": "longpass1",
        "confirm": "longpass1"}),
    ("join code", "student", "POST", "/auth/join", {"join_code": "{p}"}),
    ("poll ?since", "student", "GET", "/live/{run_id}?since={q}", None),
    ("console parts ?since", "student", "GET", "/run/{run_id}/buyer/live?since={q}", None),
    ("grades ?format", "teacher", "GET", "/classroom/assignment/{assignment_id}/grades?"
                                         "format={q}", None),
    ("board ?fragment", "teacher", "GET", "/classroom/assignment/{assignment_id}/board?"
                                          "fragment={q}", None),
    ("practice map ?fragment", "learner", "GET", "/practice/run/{practice}/map?fragment={q}",
     None),
    ("run id in the URL", "student", "GET", "/run/{q}/buyer/", None),
    ("document id in the URL", "student", "GET", "/run/{run_id}/buyer/doc/{q}", None),
    ("class id in the URL", "teacher", "GET", "/classroom/{q}", None),
    ("action in the URL", "student", "POST", "/run/{run_id}/buyer/act/{q}", {}),
    ("step in the URL", "learner", "POST", "/practice/run/{practice}/show/{q}",
     {"role": "buyer"}),
    ("language in the URL", "student", "POST", "/lang/{q}", {"next": "/"}),
    ("document field", "supplier", "POST", "/run/{run_id}/supplier/act/accept_order",
     {"doc": "{p}"}),
    ("order sku", "student", "POST", "/run/{run_id}/buyer/act/place_order",
     {"sku": "{p}", "qty": "1", "payment": "bank_transfer"}),
    ("order payment", "student", "POST", "/run/{run_id}/buyer/act/place_order",
     {"sku": "TEA-250", "qty": "1", "payment": "{p}"}),
    ("cart sku", "student", "POST", "/run/{run_id}/buyer/cart", {"sku": "{p}", "qty": "1"}),
    ("move: enrollment", "teacher", "POST", "/classroom/{class_id}/move", {"enrollment": "{p}"}),
    ("move: group", "teacher", "POST", "/classroom/{class_id}/move",
     {"enrollment": "{enrollment}", "group": "{p}"}),
    ("clock: run", "teacher", "POST", "/classroom/assignment/{assignment_id}/clock",
     {"op": "pause", "run": "{p}"}),
    ("inject: document number", "teacher", "POST",
     "/classroom/assignment/{assignment_id}/inject",
     {"action": "inject_return_request", "run": "{run_id}", "number": "{p}", "reason": "r"}),
    ("adjust: student", "teacher", "POST", "/classroom/run/{run_id}/adjust",
     {"user": "{p}", "points": "1", "comment": "c"}),
    ("mark: step", "teacher", "POST", "/classroom/run/{run_id}/mark",
     {"step": "{p}", "verdict": "done", "reason": "r"}),
    ("reset: step", "teacher", "POST", "/classroom/run/{run_id}/reset",
     {"step": "{p}", "confirm": "yes", "reason": "r"}),
    ("roles by hand (a bad member id emptied the seat)", "teacher", "POST",
     "/classroom/{class_id}/roles", {"how": "manual", "group": "{group}", "role-buyer": "{p}"}),
    ("assign: library scenario", "teacher", "POST", "/classroom/{class_id}/assign",
     {"scenario": "{p}"}),
    ("practice: scenario", "learner", "POST", "/practice/start",
     {"scenario": "{p}", "roles": ["buyer"]}),
    ("roster: student number", "teacher", "ROSTER", "/classroom/{class_id}/roster", None),
]
# Texts that are meant to be kept: they must be kept verbatim (and nothing else changes).
SQLI_STORED = [
    ("class name", "teacher", "/classroom/new", "name", "classroom"),
    ("reflection", "student", "/classroom/run/{run_id}/report/{user_id}", "text", "reflection"),
]


def _probe_request(client, token, method, url, form, payload_):
    filled = url.replace("{q}", quote(payload_, safe=""))
    if method == "GET":
        return filled, client.get(filled, headers=EN)
    if method == "ROSTER":
        body = f'student_no,name\n"{payload_}",Someone\n'.encode()
        return filled, client.post(filled, data={"csrf_token": token, "roster": (
            io.BytesIO(body), "roster.csv")}, headers=EN, content_type="multipart/form-data")
    data = {k: [x.replace("{p}", payload_) for x in v] if isinstance(v, list)
            else v.replace("{p}", payload_) for k, v in form.items()}
    return filled, client.post(filled, data=dict(data, csrf_token=token), headers=EN)


def _kept(table: str, values: dict) -> str | None:
    from lab.models import Reflection
    if table == "classroom":
        return db.session.scalar(select(Classroom.name).order_by(Classroom.id.desc()).limit(1))
    return db.session.scalar(select(Reflection.text).where(
        Reflection.run_id == values["run_id"], Reflection.user_id == values["user_id"]))


def test_sql_injection_probes_find_nothing(app):
    from tests.test_bad_input_corpus import snapshot
    app.config["SEAT_ACTIONS_PER_WINDOW"] = 0
    contexts, _forms, _clients = build_world(app)
    ctx = {c.name: c for c in contexts}
    # Another instructor's class with a student: what no probe may reveal.
    theirs = db.session.scalar(select(Classroom).where(Classroom.join_code == "CCCCCDDDDD"))
    theirs.name = f"their class {SECRET}"
    outsider = make_user("outsider", name=f"Outsider {SECRET}", student_no="7770001")
    db.session.add(Enrollment(classroom_id=theirs.id, user_id=outsider.id))
    db.session.commit()
    idle_bots()
    errors = no_errors_collected(app)
    c = ctx["class"]
    values = dict(c.values, practice=ctx["practice"].run.id)
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.user_id == values["user_id"]))
    values.update(enrollment=enrollment.id, group=enrollment.group_id)
    who = {"anon": c.clients["anonymous", "buyer"], "student": c.clients["seat_holder", "buyer"],
           "supplier": c.clients["seat_holder", "supplier"],
           "teacher": c.clients["owning_instructor", "buyer"],
           "learner": ctx["practice"].clients["practice_owner", "buyer"]}
    probes, problems = 0, []

    def judge(name, url, payload_, response):
        body = response.get_data(as_text=True) if response.mimetype.startswith(
            ("text/", "application/json")) else ""
        wrong = []
        if response.status_code >= 500:
            wrong.append(f"answered {response.status_code} {errors[-1:]}")
        if SQL_ERROR.search(body):
            wrong.append(f"SQL error text {SQL_ERROR.search(body).group(0)!r}")
        if SECRET in body:
            wrong.append("shows another instructor's class")
        return [f"{name}: {payload_!r} ({url}): {w}" for w in wrong]

    for name, persona, method, url, form in SQLI_TARGETS:
        client, token = who[persona]
        url = re.sub(r"\{(?!q\})(\w+)\}", lambda m: str(values[m.group(1)]), url)
        if form:
            form = {k: v if "{p}" in str(v) else _fill(v, values) for k, v in form.items()}
        before = snapshot()
        for p in SQLI:
            errors.clear()
            sent, response = _probe_request(client, token, method, url, form, p)
            db.session.rollback()
            probes += 1
            problems += judge(name, sent, p, response)
            if persona == "anon":  # nobody got logged in
                home = client.get("/practice/", headers=EN)
                if not (home.status_code == 302 and "/auth/login" in home.location):
                    problems.append(f"{name}: {p!r} logged the anonymous client in")
                    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})
        after = snapshot()
        changed = [t for t in before if before[t] != after[t]]
        if changed:
            problems.append(f"{name}: the probes changed {', '.join(changed)}")
    for name, persona, url, field_, table in SQLI_STORED:
        client, token = who[persona]
        url = re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), url)
        for p in SQLI:
            errors.clear()
            before = snapshot()
            response = client.post(url, data={field_: p, "csrf_token": token}, headers=EN)
            db.session.rollback()
            probes += 1
            problems += judge(name, url, p, response)
            changed = sorted(t for t, v in snapshot().items() if before[t] != v)
            if "\x00" in p:  # refused (PostgreSQL cannot keep it): nothing kept
                if changed:
                    problems.append(f"{name}: {p!r} (a NUL) changed {changed}")
                continue
            if changed != [table]:
                problems.append(f"{name}: {p!r} changed {changed}, not just {table}")
            kept = _kept(table, values)
            if kept != p:
                problems.append(f"{name}: {p!r} was kept as {kept!r}")
    print(f"\nSQL injection probes ({app.backend}): {len(SQLI_TARGETS) + len(SQLI_STORED)} "
          f"inputs × {len(SQLI)} payloads = {probes} probes, {len(problems)} problems")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:80])
    assert probes >= 120
