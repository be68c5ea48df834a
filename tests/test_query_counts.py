"""Inboxes, boards and grade sheets load in a fixed number of queries whatever their size (issue
9, item 2, "cheap by design"), counted as a server would send them for one request:

- every console of a run (its page and its live bundle) costs the same with 7 or 21 orders in
  flight (every stage of the flow at both sizes, so only the number differs);
- the instructor's live board (page and refreshed fragment) and the grade sheet (page, CSV,
  XLSX) cost the same for a class of 2 or 12 groups.

What the page itself sends is counted apart from what the engine's dry-run checks send (an inbox
asks lab/engine, row by row, whether each action is possible now and why not): those still cost
a few statements per inbox row until the engine can check many documents at once; the last test
says so, and starts passing (so fails, being strict) when the engine does."""
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import event

from lab import engine
from lab.extensions import db
from lab.models import Assignment, Classroom, Document
from lab.scenario import load_file
from tests.helpers import SCENARIOS, act, doc, login, make_user, play, post, start_run

ENGINE = str(Path(engine.__file__).parent)


def _from_engine() -> bool:
    """Is the statement sent from inside lab/engine (an action's dry-run check)?"""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(ENGINE):
            return True
        frame = frame.f_back
    return False


@dataclass
class Cost:
    queries: int = 0  # every SQL statement of the request
    engine: int = 0  # of them, the ones the engine's checks send

    @property
    def page(self) -> int:
        """The statements the page sends itself (views, services, templates)."""
        return self.queries - self.engine


def cost(client, url) -> Cost:
    """The SQL statements one GET of `url` costs, from a cold session as in a server (the
    listener is on the engine only around this request)."""
    db.session.remove()
    counted = Cost()

    def one(*_args):
        counted.queries += 1
        counted.engine += _from_engine()

    event.listen(db.engine, "before_cursor_execute", one)
    try:
        response = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", one)
    assert response.status_code == 200, (url, response.status_code)
    return counted


# ---- consoles -------------------------------------------------------------------------------

# b2c-normal's order, one step further each: order i is moved i % 7 steps along, so every
# console of the run has documents in its inbox (and some waiting for something first).
CHAIN = [("supplier", "accept_order"), ("buyer", "pay_order"), ("finance", "confirm_payment"),
         ("warehouse", "ship_order"), ("logistics", "deliver_order"), ("buyer", "confirm_receipt")]


def newest(run, kind) -> Document:
    return db.session.scalars(db.select(Document).where(Document.run_id == run.id,
                                                        Document.kind == kind)
                              .order_by(Document.id.desc())).first()


def console_world(app, orders: int, tag: str):
    """A running b2c-normal run with one logged-in student in every seat and `orders` orders
    at every stage of the flow."""
    user = make_user(f"all-{tag}")
    roles = load_file(SCENARIOS / "b2c-normal.yaml").roles
    run = start_run("b2c-normal", seats={role: [user.id] for role in roles})
    for i in range(orders):
        act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 1}],
            payment="bank_transfer")
        order = doc(run, "order", i + 1)
        for role, action in CHAIN[:i % (len(CHAIN) + 1)]:
            act(run, role, action, newest(run, "shipment") if action == "deliver_order" else order)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, user.username)
    return run, client, roles


def console_counts(app, orders, tag):
    run, client, roles = console_world(app, orders, tag)
    counts = {}
    for role in roles:
        counts[role] = cost(client, f"/run/{run.id}/{role}/")
        counts[f"{role} live"] = cost(client, f"/run/{run.id}/{role}/live")
    return counts


SIZES = (7, 21)  # one order at each stage of the flow, and three


def test_consoles_send_the_same_queries_for_7_or_21_orders(app):
    small, big = (console_counts(app, n, f"n{n}") for n in SIZES)
    print(f"\nconsole queries ({SIZES[0]} / {SIZES[1]} orders):",
          {k: (small[k].queries, big[k].queries) for k in small},
          "\nof them the engine's checks:", {k: (small[k].engine, big[k].engine) for k in small})
    assert {k: c.page for k, c in big.items()} == {k: c.page for k, c in small.items()}


@pytest.mark.xfail(strict=True, reason="lab/engine checks one inbox row at a time: already_done, "
                   "Context.in_case and Context.party send a query per row (see issue 9)")
def test_inbox_checks_send_the_same_queries_for_7_or_21_orders(app):
    small, big = (console_counts(app, n, f"n{n}") for n in SIZES)
    assert {k: c.queries for k, c in big.items()} == {k: c.queries for k, c in small.items()}


# ---- the board and the grade sheet ----------------------------------------------------------

def roster(n, start):
    book = Workbook()
    book.active.append(["学号", "姓名", "邮箱"])
    for i in range(start, start + n):
        book.active.append([f"2026{i:04d}", f"学生{i}", ""])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def teacher(app):
    make_user("teacher", is_instructor=True, name="Teacher")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "teacher")
    return client


def played_class(client, groups: int) -> Assignment:
    """A class of `groups` groups of 3, b2c-normal assigned and started; every group's run is
    played a little (one to the end), with an adjustment to a group and to a student."""
    name = f"Class of {groups}"
    post(client, "/classroom/new", {"name": name})
    classroom = db.session.scalars(db.select(Classroom).where(Classroom.name == name)).one()
    r = post(client, f"/classroom/{classroom.id}/roster",
             {"roster": (io.BytesIO(roster(groups * 3, groups * 100)), "roster.xlsx")},
             content_type="multipart/form-data")
    assert r.status_code == 302
    assert post(client, f"/classroom/{classroom.id}/groups", {"size": "3"}).status_code == 302
    r = post(client, f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal"})
    assignment_id = int(r.headers["Location"].rstrip("/").split("/")[-2])
    post(client, f"/classroom/assignment/{assignment_id}/clock", {"op": "start"})
    assignment = db.session.get(Assignment, assignment_id)
    assert len(assignment.runs) == groups
    for i, run in enumerate(assignment.runs):
        play(run, until=None if i == 0 else ("pay", "accept")[i % 2])
        post(client, f"/classroom/run/{run.id}/adjust", {"points": "1", "comment": "group"})
        student = run.seats[0].user_id
        post(client, f"/classroom/run/{run.id}/adjust",
             {"points": "-1", "comment": "student", "user": str(student)})
    return assignment


def teacher_sees(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def class_counts(app, client, groups):
    assignment = played_class(client, groups)
    base = f"/classroom/assignment/{assignment.id}"
    page = teacher_sees(client, f"{base}/board")
    assert page.count('<tr data-group="') == groups  # one row per group
    csv = client.get(f"{base}/grades?format=csv").get_data(as_text=True)
    assert len(csv.strip().splitlines()) == 1 + 3 * groups  # a header and one row per student
    counts = {}
    for name, url in (("board", f"{base}/board"), ("board fragment", f"{base}/board?fragment=1"),
                      ("grades", f"{base}/grades"), ("grades csv", f"{base}/grades?format=csv"),
                      ("grades xlsx", f"{base}/grades?format=xlsx")):
        cost(client, url)  # the bots take their turn (board: maybe_tick): then measure
        counts[name] = cost(client, url).queries
    return counts


def test_the_board_and_the_grade_sheet_send_the_same_queries_for_2_or_12_groups(app, teacher):
    small, big = class_counts(app, teacher, 2), class_counts(app, teacher, 12)
    print("\nclass queries (2 groups / 12 groups):", {k: (small[k], big[k]) for k in small})
    assert big == small
