"""Small frictions a newcomer met (issue 14 items 3–5), checked as a user would: the money fields
start empty with an example below, a review is rated with five stars, the class page goes as the
work goes and keeps the choices made, stays a fixed number of queries for a whole class, and the
exports and credential slips say where each row or slip belongs."""
import csv
import io
import re

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import event

from lab.extensions import db
from lab.models import Classroom, Enrollment, Group, User
from lab.scenario import load_file
from lab.timezones import local
from tests.guide_student import Page
from tests.helpers import SCENARIOS, doc, login, make_user, play, post, start_run

EN = {"Accept-Language": "en"}


def seat_holder(app, slug):
    """A running run of a shipped scenario with one logged-in student in every seat."""
    user = make_user(f"all-{slug}")
    roles = load_file(SCENARIOS / f"{slug}.yaml").roles
    run = start_run(slug, seats={role: [user.id] for role in roles})
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, user.username)
    return run, client


def page(client, url) -> Page:
    response = client.get(url)
    assert response.status_code == 200, url
    return Page(response.get_data(as_text=True), url)


# ---- item 3: forms ------------------------------------------------------------------------

def test_price_and_cost_start_empty_with_an_example_below(app):
    run, client = seat_holder(app, "b2c-new-product")
    console = page(client, f"/run/{run.id}/mall_admin/")
    form = next(f for f in console.forms() if f.posts_to("/act/publish_product"))
    money = {f.attrs["name"]: f for f in form.visible() if f.attrs["name"] in ("price", "cost")}
    assert set(money) == {"price", "cost"}
    for name, box in money.items():
        assert box.attrs.get("value", "") == "", name          # nothing filled in
        assert "placeholder" not in box.attrs, name            # nothing that looks filled in
        label = console.root.find(lambda n, box=box: n.tag == "label"
                                  and n.attrs.get("for") == box.attrs["id"])
        assert label is not None and label.clean_text().startswith(name.title()), name
        example = console.by_id(box.attrs["aria-describedby"])
        assert example is not None and example.clean_text() == "e.g. 88.00", name
        assert "form-text" in example.classes


def test_a_review_is_rated_with_five_stars_and_shows_them(app):
    run, client = seat_holder(app, "b2c-normal")
    play(run)  # received: the buyer may review the order
    console = page(client, f"/run/{run.id}/buyer/")
    form = next(f for f in console.forms() if f.posts_to("/act/review_order"))
    stars = [f for f in form.visible() if f.attrs["name"] == "rating"]
    assert [s.attrs.get("type") for s in stars] == ["radio"] * 5
    assert [s.attrs["value"] for s in stars] == ["1", "2", "3", "4", "5"]
    assert not any("checked" in s.attrs for s in stars)         # the student chooses
    assert "required" in stars[0].attrs                         # …and must
    said = [console.root.find(lambda n, s=s: n.tag == "label" and n.attrs.get("for")
                              == s.attrs["id"]).clean_text() for s in stars]
    assert said == ["★1 star", "★2 stars", "★3 stars", "★4 stars", "★5 stars"]
    legend = form.node.find(lambda n: n.tag == "legend")
    assert legend is not None and legend.clean_text() == "Rating"
    # the student clicks the fourth star and writes a line
    text = next(f for f in form.visible() if f.attrs["name"] == "text")
    sent = form.data({id(stars[3]): "4", id(text): "Fresh and fast"})
    assert sent["rating"] == ["4"]
    assert client.post(form.action, data=sent).status_code == 302
    review = doc(run, "review")
    assert review.data["rating"] == 4
    shown = page(client, f"/run/{run.id}/buyer/").by_class("review")
    assert len(shown) == 1 and shown[0].attrs["data-rating"] == "4"
    stars_shown = shown[0].find(lambda n: "review-stars" in n.classes)
    assert stars_shown.clean_text() == "★★★★☆"
    assert stars_shown.attrs["aria-label"] == "4 stars"


# ---- item 4: the class page ---------------------------------------------------------------

def roster(n, start=1):
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


def new_class(client, name, students, start=1):
    post(client, "/classroom/new", {"name": name})
    classroom = db.session.scalars(db.select(Classroom).where(Classroom.name == name)).one()
    if students:
        r = post(client, f"/classroom/{classroom.id}/roster",
                 {"roster": (io.BytesIO(roster(students, start)), "roster.xlsx")},
                 content_type="multipart/form-data")
        assert r.status_code == 302, r.status_code
    return classroom


def test_the_class_page_goes_as_the_work_goes(teacher):
    classroom = new_class(teacher, "Order", 6)
    html = teacher.get(f"/classroom/{classroom.id}").get_data(as_text=True)
    sections = re.findall(r'<section class="mb-4" id="(\w+)">', html)
    assert sections == ["roster", "groups", "assignments"]
    headings = [h.clean_text() for h in Page(html).root.find_all(lambda n: n.tag == "h2")]
    assert [h.split()[0] for h in headings] == ["1Students", "2Groups", "3Assignments"]


def test_the_group_size_and_the_scenario_chosen_stay(teacher):
    classroom = new_class(teacher, "Sizes", 12)
    url = f"/classroom/{classroom.id}"

    def size_shown():
        box = page(teacher, url).by_id("g-size")
        return box.attrs["value"]

    assert size_shown() == "5"                                   # a first class: 5
    r = post(teacher, f"{url}/groups", {"size": "4"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#groups")
    assert len(db.session.get(Classroom, classroom.id).groups) == 3
    assert size_shown() == "4"                                   # not back to 5
    assert size_shown() == "4"                                   # nor on a later visit
    # a refused assignment (no group ticked exists) comes back with its scenario chosen
    empty = new_class(teacher, "Empty", 0)
    r = post(teacher, f"/classroom/{empty.id}/assign", {"scenario": "b2c-return"})
    assert r.status_code == 303
    back = page(teacher, r.headers["Location"])
    chosen = [o.attrs["value"] for o in back.by_id("a-scenario").find_all(
        lambda n: n.tag == "option" and "selected" in n.attrs)]
    assert chosen == ["b2c-return"]


def class_page_queries(app, client, classroom_id) -> int:
    """The queries one visit to the class page costs, from a cold session as in a server."""
    db.session.remove()
    count = [0]

    def one(*_args):
        count[0] += 1

    event.listen(db.engine, "before_cursor_execute", one)
    try:
        assert client.get(f"/classroom/{classroom_id}").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", one)
    return count[0]


def test_the_class_page_costs_the_same_queries_for_10_or_40_students(app, teacher):
    counts = {}
    for n in (10, 40):
        classroom = new_class(teacher, f"Class of {n}", n, start=n * 100)
        class_id = classroom.id
        assert post(teacher, f"/classroom/{class_id}/groups", {"size": "5"}).status_code == 302
        assert post(teacher, f"/classroom/{class_id}/assign",
                    {"scenario": "b2c-normal"}).status_code == 302
        counts[n] = class_page_queries(app, teacher, class_id)
        assert db.session.query(Group).filter_by(classroom_id=class_id).count() == n // 5
    assert counts[10] == counts[40], counts
    assert counts[40] <= 12, counts


# ---- item 5: exports and credential slips -------------------------------------------------

@pytest.fixture
def graded(app, teacher):
    """A class of 6 in groups of 3, b2c-normal assigned and played by one group to the end."""
    classroom = new_class(teacher, "电商一班", 6)
    post(teacher, f"/classroom/{classroom.id}/groups", {"size": "3"})
    r = post(teacher, f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal"})
    assignment_id = int(r.headers["Location"].rstrip("/").split("/")[-2])
    post(teacher, f"/classroom/assignment/{assignment_id}/clock", {"op": "start"})
    from lab.models import Assignment
    assignment = db.session.get(Assignment, assignment_id)
    play(assignment.runs[0])
    return teacher, classroom, assignment


def test_the_grade_csv_says_class_scenario_and_date(graded):
    client, classroom, assignment = graded
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/classroom/assignment/{assignment.id}/grades?format=csv").data.decode("utf-8-sig"))))
    assert len(rows) == 6
    started = local(assignment.runs[0].started_at).date().isoformat()
    for row in rows:
        assert row["class"] == "电商一班"
        assert row["scenario"] == "B2C: a normal order"
        assert row["date"] == started  # every group's run started with "start all"


def test_the_grade_xlsx_has_column_widths_and_a_frozen_header(graded):
    client, classroom, assignment = graded
    book = load_workbook(io.BytesIO(client.get(
        f"/classroom/assignment/{assignment.id}/grades?format=xlsx").data))
    for sheet in book.worksheets:
        header = [c.value for c in sheet[2]]
        assert header[0] == "group" and header[-3:] == ["class", "scenario", "date"]
        assert sheet.freeze_panes == "A3"  # the title and the header row stay in view
        letter = {key: sheet.cell(row=2, column=header.index(key) + 1).column_letter
                  for key in header}
        width = {key: sheet.column_dimensions[letter[key]].width for key in header}
        # the class name (4 Chinese characters), the scenario title and a date fit
        assert width["class"] >= 8 and width["scenario"] >= len("B2C: a normal order")
        assert 10 <= width["date"] <= 20, width
        assert all(6 <= w <= 40 for w in width.values()), (sheet.title, width)
        row = dict(zip(header, (c.value for c in sheet[3]), strict=True))
        assert row["class"] == "电商一班" and row["scenario"] == "B2C: a normal order"
        assert row["date"].date() == local(assignment.runs[0].started_at).date()


def test_credential_slips_show_group_and_roles(graded):
    client, classroom, _assignment = graded
    sheet = page(client, f"/classroom/{classroom.id}/credentials")
    slips = sheet.by_class("credential")
    assert len(slips) == 6
    groups = db.session.scalars(db.select(Group).where(Group.classroom_id == classroom.id)).all()
    labels = {"buyer": "Buyer", "finance": "Finance department"}
    for slip in slips:
        username = slip.find(lambda n: n.tag == "code").clean_text()
        user = db.session.scalars(db.select(User).where(User.username == username)).one()
        enrollment = db.session.scalars(db.select(Enrollment).where(
            Enrollment.user_id == user.id)).one()
        group = next(g for g in groups if g.id == enrollment.group_id)
        assert slip.find(lambda n: "slip-group-no" in n.classes).clean_text() == \
            f"Group {group.number}"
        held = [r for r, uid in group.roles.items() if uid == user.id]
        assert held, "three members share seven roles: everybody holds some"
        roles_shown = slip.find(lambda n: "slip-roles" in n.classes).clean_text()
        for role in held:
            if role in labels:
                assert labels[role] in roles_shown, (role, roles_shown)
        assert len(roles_shown.split(", ")) == len(held)
