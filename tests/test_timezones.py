"""Every time a class sees is its own wall-clock time (issue 12): the database keeps UTC, and an
event at 2026-12-01 22:05:03 UTC reads 06:05:03 (the next day) in an Asia/Shanghai class and
22:05:03 in a Europe/London one (December: UTC+0), on the board, the replay, the lab report,
the consoles, the student's home and the grade exports, and inside a refusal that names a time.
The instructor chooses the zone; a practice run keeps the lab's (LAB_TIMEZONE)."""
import csv
import io
import re
from datetime import datetime

import pytest
from openpyxl import load_workbook

from lab.engine import Actor, perform
from lab.engine.core import already_done
from lab.extensions import db
from lab.models import Classroom, Enrollment, Event, Run
from lab.runs import start_practice
from lab.scenario import load_file
from tests.helpers import SCENARIOS, doc, login, make_user, post

AT = datetime(2026, 12, 1, 22, 5, 3)        # the order, in UTC
ACCEPTED = datetime(2026, 12, 1, 22, 7, 9)  # sales accepted it, in UTC
STARTED = datetime(2026, 12, 1, 22, 0, 0)   # the group's run started, in UTC
SHOWN = {"Asia/Shanghai": ("06:05:03", "06:07:09", "2026-12-02", "12-02 06:00"),
         "Europe/London": ("22:05:03", "22:07:09", "2026-12-01", "12-01 22:00")}
EN = {"Accept-Language": "en"}


def page(client, url) -> str:
    response = client.get(url, headers=EN)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def dated(event: Event, at: datetime) -> None:
    event.at = at
    db.session.commit()


@pytest.fixture
def teacher(app):
    make_user("teacher", is_instructor=True)
    return login(app.test_client(), "teacher")


def new_class(teacher, zone: str | None, name: str = "电商一班") -> Classroom:
    data = {"name": name} | ({"time_zone": zone} if zone is not None else {})
    assert post(teacher, "/classroom/new", data).status_code == 302
    return db.session.scalar(db.select(Classroom).where(Classroom.name == name))


@pytest.fixture
def played(app, teacher):
    """A class in a zone (the test's), one student playing every role of b2c-normal: the order
    placed at AT and accepted at ACCEPTED (UTC), the run started at STARTED."""
    def build(zone: str):
        classroom = new_class(teacher, zone)
        student = make_user("stu", student_no="20260001")
        db.session.add(Enrollment(classroom_id=classroom.id, user_id=student.id))
        db.session.commit()
        assert post(teacher, f"/classroom/{classroom.id}/groups", {"size": "1"}).status_code \
            == 302
        r = post(teacher, f"/classroom/{classroom.id}/assign", {"scenario": "b2c-normal"})
        assignment_id = int(r.headers["Location"].rstrip("/").split("/")[-2])
        post(teacher, f"/classroom/assignment/{assignment_id}/clock", {"op": "start"})
        run = db.session.scalar(db.select(Run).where(Run.assignment_id == assignment_id))
        me = Actor("buyer", "student", student.id)
        dated(perform(run.id, me, "place_order", None,
                      {"lines": [{"sku": "TEA-250", "qty": 2}], "payment": "bank_transfer"}),
              AT)
        dated(perform(run.id, Actor("supplier", "student", student.id), "accept_order",
                      doc(run, "order").id, {}), ACCEPTED)
        run = db.session.get(Run, run.id)
        run.started_at = STARTED
        db.session.commit()
        return classroom, assignment_id, run, login(app.test_client(), "stu")
    return build


def what_the_class_reads(teacher, student, assignment_id, run) -> dict:
    return {
        "board": page(teacher, f"/classroom/assignment/{assignment_id}/board"),
        "replay": page(teacher, f"/classroom/run/{run.id}/replay"),
        "report": page(teacher, f"/classroom/run/{run.id}/report/{student_id(run)}"),
        "own report": page(student, f"/classroom/run/{run.id}/report/{student_id(run)}"),
        "history": page(student, f"/run/{run.id}/buyer/history"),
        "console": page(student, f"/run/{run.id}/supplier/"),
        "watched console": page(teacher, f"/run/{run.id}/buyer/history"),
    }


def student_id(run) -> int:
    return run.seats[0].user_id


@pytest.mark.parametrize("zone", list(SHOWN))
def test_every_page_of_the_class_shows_its_own_time(played, teacher, zone):
    classroom, assignment_id, run, student = played(zone)
    order_time, accepted_time, _day, _stamp = SHOWN[zone]
    for name, text in what_the_class_reads(teacher, student, assignment_id, run).items():
        shown_at = set(re.findall(r"\b\d\d:\d\d:\d\d\b", text))
        expected = accepted_time if name in ("board", "console") else order_time
        assert expected in shown_at, (zone, name, shown_at)
        utc = "22:07:09" if name in ("board", "console") else "22:05:03"
        if zone != "Europe/London":
            assert utc not in shown_at, (zone, name)  # never the stored UTC


@pytest.mark.parametrize("zone", list(SHOWN))
def test_the_grade_csv_and_xlsx_write_the_class_s_times_and_name_its_zone(played, teacher,
                                                                          zone):
    classroom, assignment_id, run, _student = played(zone)
    day = SHOWN[zone][2]
    url = f"/classroom/assignment/{assignment_id}/grades"
    rows = list(csv.DictReader(io.StringIO(
        teacher.get(url + "?format=csv").data.decode("utf-8-sig"))))
    assert rows and all(r["time_zone"] == zone for r in rows)
    assert rows[0]["started"] == f"{day} {SHOWN[zone][3][-5:]}"
    assert rows[0]["date"] == day
    book = load_workbook(io.BytesIO(teacher.get(url + "?format=xlsx").data))
    for sheet in book.worksheets:
        header = [c.value for c in sheet[2]]
        row = dict(zip(header, (c.value for c in sheet[3]), strict=True))
        assert row["time_zone"] == zone
        assert row["started"] == datetime.fromisoformat(f"{day} {SHOWN[zone][3][-5:]}")
        assert row["date"].date().isoformat() == day
        cell = sheet.cell(row=3, column=header.index("started") + 1)
        assert cell.number_format == "yyyy-mm-dd hh:mm"
    assert f'data-zone="{zone}"' in page(teacher, url)  # the zone its exports name


def test_the_student_s_home_dates_the_run_in_the_class_s_zone(played):
    _classroom, _assignment_id, _run, student = played("Asia/Shanghai")
    home = page(student, "/")
    assert SHOWN["Asia/Shanghai"][3] in home and "12-01 22:00" not in home


def test_changing_the_zone_on_the_class_page_changes_what_the_pages_show(played, teacher):
    classroom, assignment_id, run, student = played("Asia/Shanghai")
    class_page = page(teacher, f"/classroom/{classroom.id}")
    assert re.search(r'<option value="Asia/Shanghai" selected>', class_page)
    r = post(teacher, f"/classroom/{classroom.id}/time-zone", {"time_zone": "Europe/London"},
             headers=EN)
    assert r.status_code == 302
    class_page = page(teacher, r.headers["Location"])
    assert "Times in this class are now shown in Europe/London." in class_page
    assert re.search(r'<option value="Europe/London" selected>', class_page)
    db.session.expire_all()
    assert db.session.get(Classroom, classroom.id).time_zone == "Europe/London"
    for name, text in what_the_class_reads(teacher, student, assignment_id, run).items():
        assert ("22:07:09" if name in ("board", "console") else "22:05:03") in text, name
    rows = list(csv.DictReader(io.StringIO(teacher.get(
        f"/classroom/assignment/{assignment_id}/grades?format=csv").data.decode("utf-8-sig"))))
    assert rows[0]["time_zone"] == "Europe/London" and rows[0]["date"] == "2026-12-01"
    # any IANA name, not only those the form offers; the form then offers it too
    post(teacher, f"/classroom/{classroom.id}/time-zone", {"time_zone": "America/Sao_Paulo"})
    assert '<option value="America/Sao_Paulo" selected>' in page(teacher,
                                                                 f"/classroom/{classroom.id}")
    assert "19:05:03" in page(teacher, f"/classroom/run/{run.id}/replay")  # UTC-3


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "Asia/Shanghai; DROP", "../etc/passwd"])
def test_an_unknown_zone_is_refused_and_the_class_keeps_its_own(played, teacher, name):
    classroom, assignment_id, run, _student = played("Asia/Shanghai")
    r = post(teacher, f"/classroom/{classroom.id}/time-zone", {"time_zone": name}, headers=EN)
    assert r.status_code == 303
    shown = page(teacher, r.headers["Location"])
    assert "is not a time zone: choose one from the list" in shown
    assert "now shown in" not in shown
    db.session.expire_all()
    assert db.session.get(Classroom, classroom.id).time_zone == "Asia/Shanghai"
    assert "06:05:03" in page(teacher, f"/classroom/run/{run.id}/replay")


def test_a_new_class_takes_the_zone_chosen_and_refuses_an_unknown_one(app, teacher):
    app.config["LAB_TIMEZONE"] = "Asia/Tokyo"
    form = page(teacher, "/classroom/")
    assert re.search(r'<select[^>]*name="time_zone"', form)
    assert '<option value="Asia/Tokyo" selected>' in form  # the lab's zone first chosen
    assert new_class(teacher, "Europe/London", "A").time_zone == "Europe/London"
    assert new_class(teacher, None, "B").time_zone is None  # an old form: the lab's zone
    r = post(teacher, "/classroom/new", {"name": "C", "time_zone": "Nowhere/Land"}, headers=EN)
    assert r.status_code == 303
    assert "“Nowhere/Land” is not a time zone" in page(teacher, "/classroom/")
    assert db.session.scalar(db.select(Classroom).where(Classroom.name == "C")) is None


def test_a_practice_run_shows_the_lab_s_zone(app):
    app.config["LAB_TIMEZONE"] = "America/New_York"  # December: UTC-5
    learner = make_user("learner")
    run, _role = start_practice(load_file(SCENARIOS / "b2c-normal.yaml"), learner.id,
                                ["buyer", "supplier"], bot_delay=0)
    db.session.commit()
    dated(perform(run.id, Actor("buyer", "student", learner.id), "place_order", None,
                  {"lines": [{"sku": "TEA-250", "qty": 2}], "payment": "bank_transfer"}), AT)
    client = login(app.test_client(), "learner")
    history = page(client, f"/run/{run.id}/buyer/history")
    shown_at = set(re.findall(r"\b\d\d:\d\d:\d\d\b", history))
    assert "17:05:03" in shown_at and not shown_at & {"22:05:03", "06:05:03"}, shown_at


@pytest.mark.parametrize("zone", list(SHOWN))
def test_a_refusal_naming_a_time_shows_the_class_s_time(played, teacher, zone):
    classroom, assignment_id, run, student = played(zone)
    accepted = SHOWN[zone][1]
    order = doc(run, "order")
    r = post(student, f"/run/{run.id}/supplier/act/accept_order",
             {"doc": order.id, "request_key": "again-accept-1"},
             headers={"Accept": "application/json", **EN})
    assert r.status_code == 409
    message = r.get_json()["error"]
    assert f"on {order.number} at {accepted}." in message, message
    # the same refusal as a page shows it (flashed), and as the replay shows it later
    r = post(student, f"/run/{run.id}/supplier/act/accept_order",
             {"doc": order.id, "request_key": "again-accept-2"}, headers=EN)
    assert r.status_code == 303
    assert f"at {accepted}." in page(student, r.headers["Location"])
    # stored with a refused event (as the engine stores refusals), it is shown later, to the
    # instructor, in the class's zone too
    db.session.add(Event(run_id=run.id, at=ACCEPTED, user_id=student_id(run), actor="student",
                         role="supplier", action="accept_order", document_id=order.id,
                         ok=False, error=already_done(run.id, "accept_order", order).to_json()))
    db.session.commit()
    replay = page(teacher, f"/classroom/run/{run.id}/replay")
    assert f"on {order.number} at {accepted}." in replay
    if zone != "Europe/London":
        assert "at 22:07:09." not in replay
