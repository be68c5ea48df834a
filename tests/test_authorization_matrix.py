"""The authorization matrix: every route of the URL map × every persona → the answer the lab owes
that persona, so a new route cannot be forgotten.

POLICY names the access rule of every endpoint; a route missing from it (or an entry whose route
is gone) fails `test_every_route_has_a_policy`. From the rule and the persona, `expected()` derives
the outcome; `test_the_matrix` then sends each persona's request with REAL ids (the run, a document
and a product of that run, an action of that console, a step of its scenario, an upload report of
the class, the student whose lab report it is), so a 404 means "denied", never "bad id".

Outcomes:
- ALLOWED: the request passed the access check: any answer but 401/403/404, a 5xx or a redirect
  to the login page (a 303 or 400 with a validation message is fine; forms are empty or
  harmless);
- LOGIN: anonymous, sent to the login page;
- 403 / 404: refused, and nothing in the database changed. The lab answers 403 on a console of
  a run one holds no seat in and on the instructor's and admin's pages a student (or an
  instructor) opens, and 404 where even the existence of the thing is not to be revealed: another
  instructor's class, assignment or run, someone else's practice run, lab report or live poll;
- READ_ONLY: an instructor or admin watching a console posts one of the buyer's own forms: sent
  back to the console, nothing changed (the action endpoint answers 403 instead).

Personas. In a group's run of a class ("class" context): anonymous; the seat holder (the student
holding the role of the console requested; on a route of no console, the buyer, whose lab report
it is); a student of the same run in another role; the student holding that role in another
group's run of the same class; the class's instructor; another instructor (with a class of their
own); the lab admin. In a self-learner's practice run ("practice" context): anonymous; the
self-learner who owns it (holding every seat); another self-learner; an instructor; the admin.
Each persona is one test client, logged in once; auth.logout is sent last, once per client.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import String, cast, func, literal, select, union_all

from lab.classroom import board, groups, uploads, work
from lab.engine import Actor, perform, registry
from lab.extensions import db
from lab.models import Classroom, Document, Enrollment, Product, Run, User
from lab.models.run import ROLES
from lab.runs import create_run, scenario_of
from lab.scenario import load_file
from tests.helpers import SCENARIOS, csrf_token, login, make_user

ALLOWED, LOGIN, READ_ONLY, LOGGED_OUT = "allowed", "login", "read-only", "logged out"
CONSOLES = ROLES  # one console blueprint per role (roles/common.py Console)

# ---- the policy: every endpoint → its access rule --------------------------------------------
#   public                      anyone, logged in or not
#   login_alias                 /login: a redirect to the login page, for everybody
#   logged_in                   any account (anonymous: the login page)
#   logout                      any account; sent last (it ends the session)
#   instructor                  instructors and the admin (others 403)
#   admin                       the admin only (others 403)
#   owning_instructor           the instructor of the class (and the admin); another instructor
#                               404, a student 403; a practice run: 404 (no class owns it)
#   seat_of_role                the student holding the console's role; the run's instructor and
#                               the admin read it (GET) but may not act (403); anybody else 403
#   seat_of_role_form           as seat_of_role, but a watcher's POST is sent back to the console
#                               and changes nothing (READ_ONLY)
#   run_watcher                 whoever may watch the run: its members, its instructor (or the
#                               self-learner owning it) and the admin; anybody else 404
#   practice_owner              the self-learner owning the practice run (and the admin); 404 for
#                               anybody else, and for every run that is not a practice run
#   self_or_owning_instructor   the student the lab report is about, the run's instructor and the
#                               admin; anybody else 404; a practice run's: its learner only
_CONSOLE_COMMON = {"index": "seat_of_role", "live_parts": "seat_of_role", "act": "seat_of_role",
                   "document": "seat_of_role", "history": "seat_of_role"}
POLICY: dict[str, str] = {
    "static": "public",
    "bootstrap.static": "public",
    "main.home": "public",  # anonymous: the landing page; logged in: one's home
    "main.set_language": "public",
    "login_shortcut": "login_alias",
    "register_shortcut": "public",  # /register: a redirect to the registration page
    "auth.login": "public",
    "auth.register": "public",
    "auth.join": "logged_in",
    "auth.password": "logged_in",
    "auth.logout": "logout",
    "auth.try_now": "public",  # anonymous: a temporary account (LOGS_IN); others: practice
    "auth.keep": "logged_in",  # a temporary account kept; any other account: sent home
    "auth.register_learner": "public",  # a self-learner's account (an empty form: refused)
    "reset.forgot": "public",  # no mail server here: the page says to ask the instructor
    "reset.reset": "public",  # the token is the key: a made-up one is refused
    "admin.users": "admin",
    "admin.lock": "admin",  # an empty form names no account: nothing is locked
    "admin.unlock": "admin",
    "admin.settings": "admin",
    "lti.login": "public",  # OIDC login initiation: without iss and login_hint, refused (400)
    "lti.launch": "public",  # an empty form carries no state nor id_token: refused (400)
    "lti.jwks": "public",
    "lti.platforms_page": "admin",
    "lti.delete_platform": "admin",  # an empty form names no platform: nothing is removed
    "live.poll": "run_watcher",
    "practice.index": "logged_in",
    "practice.start": "logged_in",
    "practice.show_me": "practice_owner",
    "practice.restart": "practice_owner",
    "practice.abandon": "practice_owner",
    "practice.flow_map": "run_watcher",
    "practice.done": "run_watcher",
    "classroom.index": "instructor",
    "classroom.new_class": "instructor",
    "classroom.new_instructor": "admin",
    "classroom.show": "owning_instructor",
    "classroom.assign": "owning_instructor",
    "classroom.credentials": "owning_instructor",
    "classroom.reset_password": "owning_instructor",
    "classroom.form_groups": "owning_instructor",
    "classroom.rotate_join_code": "owning_instructor",
    "classroom.set_time_zone": "owning_instructor",
    "classroom.move": "owning_instructor",
    "classroom.roles": "owning_instructor",
    "classroom.roster": "owning_instructor",
    "classroom.upload_report": "owning_instructor",
    "classroom.board": "owning_instructor",
    "classroom.clock": "owning_instructor",
    "classroom.grade_sheet": "owning_instructor",
    "classroom.inject": "owning_instructor",
    "classroom.adjust": "owning_instructor",
    "classroom.mark_step": "owning_instructor",
    "classroom.repair_page": "owning_instructor",
    "classroom.replay": "owning_instructor",
    "classroom.reset_run": "owning_instructor",
    "classroom.report": "self_or_owning_instructor",
    **{f"{role}.{name}": rule for role in CONSOLES for name, rule in _CONSOLE_COMMON.items()},
    "buyer.cart": "seat_of_role_form",
    "buyer.checkout": "seat_of_role_form",
    "buyer.certificate": "seat_of_role_form",
    "finance.ledger": "seat_of_role",
    "warehouse.stock_card": "seat_of_role",
}

# Routes that log their anonymous sender in ("try a scenario now"): anonymous sends them from a
# browser of its own, so that the matrix's anonymous client stays anonymous.
LOGS_IN = {"auth.try_now"}

# Routes that delete the practice run they are about (restart, abandon): in the practice context
# each is sent about a spare practice run of the same learner, made for it.
SPENDS_THE_RUN = {"practice.restart", "practice.abandon"}

# Every route about a run (a `run_id` in its URL) is tried on a group's run of a class and on a
# self-learner's practice run; every other route in the class's context.
RUN_ROUTE_CONTEXTS = ("class", "practice")

PERSONAS = {
    "class": ("anonymous", "seat_holder", "other_role", "other_group", "owning_instructor",
              "other_instructor", "admin"),
    "practice": ("anonymous", "practice_owner", "other_learner", "instructor", "admin"),
}
# What each persona is to the run (and the console) of its context.
FACTS = {
    ("class", "anonymous"): set(),
    ("class", "seat_holder"): {"user", "student", "holder", "member"},
    ("class", "other_role"): {"user", "student", "member"},
    ("class", "other_group"): {"user", "student"},
    ("class", "owning_instructor"): {"user", "instructor", "owner"},
    ("class", "other_instructor"): {"user", "instructor"},
    ("class", "admin"): {"user", "admin"},
    ("practice", "anonymous"): set(),
    ("practice", "practice_owner"): {"user", "student", "holder", "member", "owner", "solo"},
    ("practice", "other_learner"): {"user", "student", "solo"},
    ("practice", "instructor"): {"user", "instructor", "solo"},
    ("practice", "admin"): {"user", "admin", "solo"},
}


def expected(rule: str, facts: set[str], method: str):
    """The outcome the rule owes a persona with these facts."""
    if rule == "public":
        return ALLOWED
    if rule == "login_alias":
        return LOGIN
    if "user" not in facts:
        return LOGIN
    admin, instructor = "admin" in facts, "instructor" in facts
    watcher = admin or (instructor and "owner" in facts)
    if rule == "logged_in":
        return ALLOWED
    if rule == "logout":
        return LOGGED_OUT
    if rule == "instructor":
        return ALLOWED if instructor or admin else 403
    if rule == "admin":
        return ALLOWED if admin else 403
    if rule == "owning_instructor":
        if "student" in facts:
            return 403
        if "solo" in facts:  # a practice run is no group's run of any class
            return 404
        return ALLOWED if admin or "owner" in facts else 404
    if rule in ("seat_of_role", "seat_of_role_form"):
        if "holder" in facts or (watcher and method == "GET"):
            return ALLOWED
        if watcher and rule == "seat_of_role_form":
            return READ_ONLY
        return 403
    if rule == "run_watcher":
        return ALLOWED if admin or {"member", "owner"} & facts else 404
    if rule == "practice_owner":
        return ALLOWED if "solo" in facts and (admin or "owner" in facts) else 404
    if rule == "self_or_owning_instructor":
        if "solo" in facts:  # nobody marks a practice run: its learner's alone
            return ALLOWED if "holder" in facts else 404
        return ALLOWED if admin or {"holder", "owner"} & facts else 404
    raise AssertionError(f"no such rule {rule!r}")


# ---- the world --------------------------------------------------------------------------------

@dataclass
class Context:
    name: str
    run: Run
    values: dict  # URL arguments
    role_action: dict  # console role → an action of that console
    clients: dict = field(default_factory=dict)  # (persona, route role) → client


def _place_order(run: Run, user_id: int) -> Document:
    perform(run.id, Actor("buyer", "student", user_id), "place_order", None,
            {"lines": [{"sku": "TEA-250", "qty": "2"}], "payment": "bank_transfer"})
    return db.session.scalar(select(Document).where(Document.run_id == run.id,
                                                    Document.kind == "order"))


def _action_of(role: str, mode: str) -> str:
    """An action of this console: one on a document when it has one."""
    actions = registry.actions_for(role, mode) or [a for a in registry.REGISTRY.values()
                                                   if a.role == role]
    return sorted(actions, key=lambda a: (a.on is None, a.name))[0].name


def _values(run: Run, **more) -> dict:
    product = db.session.scalar(select(Product).where(Product.run_id == run.id)
                                .order_by(Product.id))
    return {"run_id": run.id, "product_id": product.id, "step_id": scenario_of(run).steps[0].id,
            "code": "en", "token": "made-up.reset-token", **more}


def build_world(app):
    """A class of 14 students in two groups of seven (one role each), each group running
    b2c-normal with an order placed (it plays five roles: the mall admin's and the purchaser's
    students sit beside other holders, and those two consoles are tried in the practice run);
    another instructor with a class of their own; the admin; two self-learners, one with a
    practice run holding all seven seats. Everything through the
    lab's own functions, then one test client per account, logged in once."""
    scenario = load_file(SCENARIOS / "b2c-normal.yaml")
    teacher = make_user("teacher", is_instructor=True)
    teacher2 = make_user("teacher2", is_instructor=True)
    admin = make_user("boss", is_admin=True)
    learner, learner2 = make_user("learner"), make_user("learner2")
    classroom = Classroom(name="电商一班", instructor_id=teacher.id, join_code="AAAAABBBBB")
    db.session.add_all([classroom, Classroom(name="电商二班", instructor_id=teacher2.id,
                                             join_code="CCCCCDDDDD")])
    db.session.commit()
    for i in range(14):
        work.join(make_user(f"s{i:02d}"), classroom)
    made = groups.form_groups(classroom, 7, seed=1)
    assert [len(g.roles) for g in made] == [7, 7] and len(set(made[0].roles.values())) == 7
    assignment = work.assign(classroom, scenario, made, teacher.id)
    board.clock(assignment, "start", by=teacher.id)
    runs = sorted(assignment.runs, key=lambda r: r.group_id)
    holders = []  # each run's role → its holders (a class run seats only the scenario's roles)
    for run in runs:
        held: dict[str, list[int]] = {}
        for s in sorted(run.seats, key=lambda s: s.id):
            held.setdefault(s.role, []).append(s.user_id)
        holders.append(held)
    # A student in no group and no run, whose password the class's instructor may reset (no
    # persona logs in as them).
    spare = work.join(make_user("s14"), classroom) and db.session.scalar(
        select(Enrollment).join(User).where(User.username == "s14"))
    report = uploads.keep(classroom, teacher.id, "roster", "roster.csv", {"problems": []})
    solo = create_run(scenario, kind="solo", owner_id=learner.id, start=True, bot_delay=0,
                      seats={role: [learner.id] for role in ROLES})
    db.session.commit()
    mine = holders[0]
    class_values = _values(
        runs[0], class_id=classroom.id, assignment_id=assignment.id, report_id=report.id,
        enrollment_id=spare.id,
        user_id=mine["buyer"][0], doc_id=_place_order(runs[0], mine["buyer"][0]).id)
    _place_order(runs[1], holders[1]["buyer"][0])
    practice_values = _values(solo, user_id=learner.id, doc_id=_place_order(solo, learner.id).id)
    other = db.session.scalar(select(Enrollment).where(
        Enrollment.user_id == holders[1]["buyer"][0]))
    forms = {"classroom.move": {"enrollment": other.id, "group": other.group_id},
             "practice.show_me": {"role": "buyer"}}

    clients = {}

    def client_of(user_id):
        if user_id not in clients:
            client = app.test_client()
            if user_id is not None:
                login(client, db.session.get(User, user_id).username)
            # The token of this client's own session (any page with a form).
            clients[user_id] = (client, csrf_token(client, "/auth/password" if user_id
                                                   else "/auth/login"))
        return clients[user_id]

    contexts = []
    for name, run, values in (("class", runs[0], class_values),
                              ("practice", solo, practice_values)):
        ctx = Context(name, run, values, {r: _action_of(r, run.mode) for r in CONSOLES})
        for role in CONSOLES:
            if name == "class":
                if role not in mine:  # a role b2c-normal does not play: no seat in a class run
                    continue
                others = [r for r in ROLES if r in mine and r != role]
                who = {"anonymous": None, "seat_holder": mine[role][0],
                       "other_role": next(u for r in others for u in mine[r]
                                          if u not in mine[role]),
                       "other_group": holders[1][role][0], "owning_instructor": teacher.id,
                       "other_instructor": teacher2.id, "admin": admin.id}
            else:
                who = {"anonymous": None, "practice_owner": learner.id,
                       "other_learner": learner2.id, "instructor": teacher.id,
                       "admin": admin.id}
            for persona, user_id in who.items():
                ctx.clients[persona, role] = client_of(user_id)
        contexts.append(ctx)
    return contexts, forms, clients


# ---- checking one request ---------------------------------------------------------------------

class Snapshot:
    """Every row of every table (the world is small): what a refused request must not change.
    One query (each row as one text), on a connection of its own."""

    def __init__(self):
        parts = []
        for table in db.metadata.sorted_tables:
            row = literal(table.name)
            for column in table.columns:
                row = row + "|" + func.coalesce(cast(column, String), "~")
            parts.append(select(row.label("row")).select_from(table))
        self.query = union_all(*parts)
        self.conn = db.engine.connect()

    def __call__(self) -> list:
        db.session.rollback()  # a real request's unfinished transaction ends with it
        rows = sorted(self.conn.execute(self.query).scalars())
        self.conn.rollback()  # hold no snapshot or lock between two reads
        return rows

    def close(self):
        self.conn.close()


CSRF_FAILED = "missing security token"


def outcome(response) -> object:
    status = response.status_code
    if status in (301, 302, 303, 307) and urlsplit(response.location).path == "/auth/login":
        return LOGIN
    if status in (401, 403, 404, 429) or status >= 500:
        return status
    if status == 400 and CSRF_FAILED in response.get_data(as_text=True):
        return "csrf refused"  # the request never reached the access check: a test bug
    return ALLOWED


def route_role(endpoint: str) -> str:
    """The console a route belongs to (routes of no console: the buyer's seat)."""
    blueprint = endpoint.partition(".")[0]
    return blueprint if blueprint in CONSOLES else "buyer"


def build_url(adapter, rule, method: str, ctx: Context, role: str) -> str:
    values = dict(ctx.values, action=ctx.role_action[role])
    values["filename"] = "css/bootstrap.min.css" if rule.endpoint.startswith(
        "bootstrap") else "lab.css"
    missing = [a for a in rule.arguments if a not in values]
    assert not missing, f"{rule.endpoint}: no value for URL argument(s) {missing}: add a real one"
    return adapter.build(rule.endpoint, {a: values[a] for a in rule.arguments}, method=method)


def routes(app):
    """(rule, method) for every route of the URL map, auth.logout last."""
    out = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout",
                                                                r.rule, r.endpoint)):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule, method))
    return out


def check(ctx: Context, persona: str, role: str, method: str, url: str, want, data: dict,
          headers: dict, fresh: bool = False) -> str | None:
    """Send one persona's request (fresh: from a new browser); what is wrong with the answer,
    or None."""
    client, token = ctx.clients[persona, role]
    if fresh:
        client = current_app.test_client()
        token = csrf_token(client, "/auth/login")
    try:
        response = client.open(url, method=method, headers=headers,
                               data=None if method == "GET" else dict(data, csrf_token=token))
    except Exception as error:  # the test client re-raises what would be a 500
        db.session.rollback()
        return f"expected {want}, got 500 ({error!r:.200})"
    db.session.rollback()  # a real request's unfinished transaction ends with it
    got = outcome(response)
    if want == READ_ONLY and response.status_code in (302, 303) and \
            urlsplit(response.location).path == f"/run/{ctx.run.id}/{role}/":
        got = READ_ONLY
    return None if got == want else f"expected {want}, got {got} ({response.status_code})"


def spare_run(run: Run) -> int:
    """A new practice run of the same scenario, owner and seats as `run`."""
    seats: dict[str, list[int]] = {}
    for held in run.seats:
        seats.setdefault(held.role, []).append(held.user_id)
    spare = create_run(scenario_of(run), kind="solo", owner_id=run.owner_id, seats=seats,
                       start=True, bot_delay=0)
    db.session.commit()
    return spare.id


def test_every_route_has_a_policy(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing, gone = sorted(endpoints - POLICY.keys()), sorted(POLICY.keys() - endpoints)
    assert not missing and not gone, (
        f"endpoints without an access rule in POLICY: {missing}; "
        f"POLICY entries whose route no longer exists: {gone}")


def test_the_matrix(app):
    contexts, forms, clients = build_world(app)
    snapshot = Snapshot()
    adapter = app.url_map.bind("localhost")
    problems, tally, cases = [], {}, 0
    last = None  # the snapshot after the last refused requests, while nothing else ran since
    logout_rule = None
    headers = {"Accept-Language": "en"}
    for rule, method in routes(app):
        policy = POLICY.get(rule.endpoint)
        if policy is None:
            continue  # test_every_route_has_a_policy names it
        if policy == "logout":
            logout_rule = rule
            continue
        role = route_role(rule.endpoint)
        for ctx in contexts:
            if ctx.name not in (RUN_ROUTE_CONTEXTS if "run_id" in rule.arguments
                                else ("class",)):
                continue
            if ("anonymous", role) not in ctx.clients:
                continue  # the console of a role the class run does not seat
            url = build_url(adapter, rule, method, ctx, role)
            if rule.endpoint in SPENDS_THE_RUN and ctx.name == "practice":
                url = url.replace(f"/run/{ctx.run.id}/", f"/run/{spare_run(ctx.run)}/")
                last = None  # the spare is new: the next refusals start from a new snapshot
            wants = {p: expected(policy, FACTS[ctx.name, p], method) for p in PERSONAS[ctx.name]}
            refused = [p for p, want in wants.items() if want != ALLOWED]
            allowed = [p for p, want in wants.items() if want == ALLOWED]
            where = f"{method} {url} [{rule.endpoint}] ({ctx.name})"
            # The refused requests of this route first, between two snapshots of the database;
            # then the allowed ones (which may change it).
            if refused:
                before = last or snapshot()
            for persona in refused + allowed:
                problem = check(ctx, persona, role, method, url, wants[persona],
                                forms.get(rule.endpoint, {}), headers,
                                fresh=rule.endpoint in LOGS_IN and persona == "anonymous")
                if problem:
                    problems.append(f"{where} as {persona}: {problem}")
                tally[wants[persona]] = tally.get(wants[persona], 0) + 1
                cases += 1
                if refused and persona == refused[-1]:
                    last = snapshot()
                    if last != before:
                        problems.append(f"{where}: refused to {', '.join(refused)}, yet the "
                                        "database changed")
            if allowed:
                last = None
    assert logout_rule is not None, "no auth.logout route"
    logout = adapter.build("auth.logout", method="POST")
    before = snapshot()
    for user_id, (client, token) in clients.items():  # last: it ends the sessions (anonymous
        want = LOGIN if user_id is None else LOGGED_OUT  # first: it must change nothing)
        response = client.post(logout, data={"csrf_token": token}, headers=headers)
        got = outcome(response)
        if user_id is None and snapshot() != before:
            problems.append(f"POST {logout} as anonymous changed the database")
        if user_id is not None and got == LOGIN:  # then the session must be over
            got = LOGGED_OUT if outcome(client.get("/practice/", headers=headers)) == LOGIN else \
                "still logged in"
        tally[want] = tally.get(want, 0) + 1
        cases += 1
        if got != want:
            problems.append(f"POST {logout} as user {user_id}: expected {want}, got {got}")
    snapshot.close()
    print(f"\nauthorization matrix ({app.backend}): {len(list(app.url_map.iter_rules()))} "
          f"routes, {len(routes(app))} with their methods, {cases} requests: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items(), key=str)))
    assert not problems, f"{len(problems)} of {cases} requests:\n" + "\n".join(problems)
