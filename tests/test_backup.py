"""Backup and restore of a class (`lab export` / `lab import`, lab/backup.py): a class played
partly and fully, exported, imported into a fresh database (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set) shows the same grades, replays, lab reports, class page and exports;
both databases pass `lab verify`; bad files are refused and change nothing."""
import csv
import gzip
import io
import json
import os
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, func, select, text

from lab import create_app
from lab.backup import NOT_EXPORTED, TABLES, checksum, table
from lab.classroom import grades, repair
from lab.extensions import db
from lab.models import (Assignment, Classroom, Document, Enrollment, Event, Group, Reflection,
                        Run, Seat, User)
from lab.runs import finish, grade_run, pause
from tests.helpers import (OWN_PASSWORD, PG_URL, IsolatedClient, _config, _pg_url, doc, login,
                            make_user, play, post, start_run)

TARGETS = ["sqlite"] + (["postgresql"] if PG_URL else [])


# ---- a class, played --------------------------------------------------------------------------

def roster_csv(n: int) -> bytes:
    lines = ["学号,姓名,邮箱"] + [f"2026{i:04d},学生{i},s{i}@uni.edu" for i in range(1, n + 1)]
    return "\n".join(lines).encode()


def student_client(app, user):
    password = db.session.scalar(select(Enrollment.initial_password)
                                 .where(Enrollment.user_id == user.id))
    return login(app.test_client(), user.username, password or OWN_PASSWORD)  # or: chosen


def holder(run, role) -> User:
    seat = db.session.scalar(select(Seat).where(Seat.run_id == run.id, Seat.role == role))
    return db.session.get(User, seat.user_id)


def new_class(app, slugs) -> tuple[Classroom, IsolatedClient, list[list[Run]]]:
    """电商一班: 14 students from a roster in two groups of 7, the scenarios assigned to both
    groups and started: the runs per assignment."""
    make_user("teacher", is_instructor=True)
    teacher = login(app.test_client(), "teacher")
    post(teacher, "/classroom/new", {"name": "电商一班"})
    classroom = db.session.scalar(select(Classroom))
    r = post(teacher, f"/classroom/{classroom.id}/roster",
             {"roster": (io.BytesIO(roster_csv(14)), "roster.csv")},
             content_type="multipart/form-data")
    assert r.status_code in (302, 303)
    assert post(teacher, f"/classroom/{classroom.id}/groups", {"size": "7"}).status_code == 302
    for slug in slugs:
        assert post(teacher, f"/classroom/{classroom.id}/assign",
                    {"scenario": slug}).status_code == 302
    assignments = db.session.scalars(select(Assignment).order_by(Assignment.id)).all()
    for assignment in assignments:
        post(teacher, f"/classroom/assignment/{assignment.id}/clock", {"op": "start"})
    runs = [list(a.runs) for a in assignments]
    assert {r.status for runs_ in runs for r in runs_} == {"running"}
    return classroom, teacher, runs


def small_class(app) -> tuple[int, IsolatedClient]:
    """b2c-normal: group 1 halfway by bots, with an adjustment; group 2 not begun."""
    classroom, teacher, [[run, _]] = new_class(app, ["b2c-normal"])
    play(run, until="ship")
    post(teacher, f"/classroom/run/{run.id}/adjust", {"points": "-1", "comment": "slow"})
    return classroom.id, teacher


def played_class(app) -> tuple[int, IsolatedClient]:
    """电商一班: 14 students in two groups; b2c-return and b2b-normal assigned to both. Group 1
    plays b2c-return to the end (reset once and played again: an archived run), group 2 places an
    order by hand, makes a mistake, suffers an injected stock loss and goes on by bots to the
    refund; group 1 plays b2b-normal (certificate, signed contract) to the end and is stopped,
    group 2 is paused after the membership. Adjustments, a reflection, a mark."""
    classroom, teacher, [[ret1, ret2], [b2b1, b2b2]] = new_class(
        app, ["b2c-return", "b2b-normal"])
    teacher_user = db.session.scalar(select(User).where(User.username == "teacher"))

    # Group 1, b2c-return: to the end, reset to before the shipment, and to the end again.
    play(ret1)
    step = next(s for s in grade_run(ret1).steps if s.step.action == "ship_order")
    repair.reset(db.session.get(Run, ret1.id), teacher_user.id, step.id, "ship it again")
    play(db.session.get(Run, ret1.id))

    # Group 2, b2c-return: the buyer pays too early (a refused attempt), sales accepts and the
    # buyer pays by hand, the instructor injects a stock loss, bots play on to the refund.
    play(ret2, until="accept")
    order = doc(ret2, "order").id
    buyer, sales = holder(ret2, "buyer"), holder(ret2, "supplier")
    student = student_client(app, buyer)
    post(student, f"/run/{ret2.id}/buyer/act/pay_order", {"doc": order, "request_key": "p" * 16})
    post(student_client(app, sales), f"/run/{ret2.id}/supplier/act/accept_order",
         {"doc": order, "request_key": "a" * 16})
    post(student, f"/run/{ret2.id}/buyer/act/pay_order", {"doc": order, "request_key": "q" * 16})
    post(teacher, f"/classroom/assignment/{ret2.assignment_id}/inject",
         {"action": "inject_stock_loss", "run": str(ret2.id), "sku": "CUP-01", "qty": "5"})
    play(ret2)
    assert len(grade_run(ret2).mistakes) == 1
    assert {e.user_id for e in db.session.scalars(select(Event).where(
        Event.run_id == ret2.id, Event.ok.is_(True), Event.actor == "student"))} == {
        buyer.id, sales.id}
    post(teacher, f"/classroom/run/{ret2.id}/adjust",
         {"points": "2", "comment": "helped group 1", "user": str(buyer.id)})
    post(teacher, f"/classroom/run/{ret2.id}/adjust", {"points": "-1.5", "comment": "late"})
    report = f"/classroom/run/{ret2.id}/report/{buyer.id}"
    assert post(student, report, {"text": "我学会了退货流程。"}).status_code == 302
    assert post(teacher, report, {"mark": "88", "comment": "good"}).status_code == 302

    # b2b-normal: group 1 to the end (a certificate, a signed contract), then stopped; group 2
    # approved as a member, then paused.
    play(b2b1)
    finish(db.session.get(Run, b2b1.id), by=teacher_user.id)
    play(b2b2, until="cert-request")
    pause(db.session.get(Run, b2b2.id), by=teacher_user.id)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Run)
                             .where(Run.status == "archived")) == 1
    assert db.session.scalar(select(func.count()).select_from(Document)
                             .where(Document.kind == "contract", Document.state == "signed"))
    return classroom.id, teacher


# ---- what the class's pages show ----------------------------------------------------------

def no_ids(html: str) -> str:
    """A page with the ids in its links and form values blanked (they differ between databases)
    and without its one-time tokens; every text a reader sees is kept."""
    html = re.sub(r'name="(csrf_token|request_key)"[^>]*>', "", html)
    return re.sub(r'="([^"]*)"', lambda m: '="' + re.sub(r"\d+", "#", m.group(1)) + '"', html)


def what_the_class_shows(client, class_id: int) -> dict:
    """Everything an instructor reads of the class: its page, per assignment the grade sheet
    (page, CSV bytes, XLSX cells, the rows and each run's grade), per run its replay, and each
    lab report."""
    client.get(f"/classroom/{class_id}")  # shows (and drops) the messages of earlier forms
    seen = {"class": no_ids(client.get(f"/classroom/{class_id}").get_data(as_text=True))}
    assignments = db.session.scalars(select(Assignment).where(
        Assignment.classroom_id == class_id).order_by(Assignment.id)).all()
    for n, assignment in enumerate(assignments):
        url = f"/classroom/assignment/{assignment.id}/grades"
        seen[f"grades {n}"] = no_ids(client.get(url).get_data(as_text=True))
        seen[f"csv {n}"] = client.get(url + "?format=csv").data
        book = load_workbook(io.BytesIO(client.get(url + "?format=xlsx").data))
        seen[f"xlsx {n}"] = [list(ws.iter_rows(values_only=True)) for ws in book.worksheets]
        groups, students = grades.assignment_rows(assignment)
        seen[f"rows {n}"] = ([grades._plain(g, grades.GROUP_COLUMNS) for g in groups],
                             [grades._plain(s) + [s["user"].username] for s in students])
        for run in assignment.runs:
            number = db.session.get(Group, run.group_id).number
            graded = grade_run(run)
            seen[f"grade {n}/{number}"] = (
                graded.score, graded.max_score, graded.completed,
                [(s.id, s.status, s.points, s.reason, s.event and s.event.action)
                 for s in graded.steps], [(l.points, l.reason, l.kind) for l in graded.losses],
                {db.session.get(User, u).username: v for u, v in graded.per_user.items()})
            seen[f"replay {n}/{number}"] = no_ids(client.get(
                f"/classroom/run/{run.id}/replay").get_data(as_text=True))
            for seat in sorted(run.seats, key=lambda s: s.role):
                seen[f"report {n}/{number}/{seat.role}"] = no_ids(client.get(
                    f"/classroom/run/{run.id}/report/{seat.user_id}").get_data(as_text=True))
    archives = db.session.scalars(select(Run).join(Group, Group.id == Run.group_id).where(
        Run.status == "archived", Group.classroom_id == class_id).order_by(Run.id)).all()
    for n, archive in enumerate(archives):
        seen[f"archive {n}"] = no_ids(client.get(
            f"/classroom/run/{archive.id}/replay").get_data(as_text=True))
    return seen


# ---- a fresh database -----------------------------------------------------------------------

@pytest.fixture(params=TARGETS)
def target(request, tmp_path, monkeypatch):
    """A second lab with an empty database of its own: another SQLite file, or a schema of its
    own on the PostgreSQL server."""
    folder = tmp_path / "target"
    folder.mkdir()
    config = _config(request.param, folder)
    schema = None
    if request.param == "postgresql":
        schema = f"ecomlab_b{os.getpid()}"
        engine = create_engine(_pg_url())
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"options": f"-csearch_path={schema}"}}
    other = create_app(config)
    other.test_client_class = IsolatedClient
    other.backend = request.param
    with other.app_context():
        db.create_all()
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
    if schema:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["lab", *map(str, args)])
    return result.exit_code, result.output


def counts() -> dict[str, int]:
    return {name: db.session.scalar(select(func.count()).select_from(table(name)))
            for name in TABLES}


# ---- the tests --------------------------------------------------------------------------------

def test_a_class_restored_into_a_fresh_database_shows_the_same(app, target, tmp_path):
    class_id, teacher = played_class(app)
    other = make_user("other-teacher", is_instructor=True)
    db.session.add(Classroom(name="另一班", instructor_id=other.id, join_code="OTHERCLASS"))
    db.session.commit()
    before = what_the_class_shows(teacher, class_id)
    assert cli(app, "verify")[0] == 0
    path = tmp_path / "class.json.gz"
    code, out = cli(app, "export", class_id, path)
    assert code == 0, out
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # it holds password hashes
    data = json.loads(gzip.decompress(path.read_bytes()))
    assert (data["format"], data["version"]) == ("ecomlab-class", 1)
    users = data["tables"]["user"]
    assert "other-teacher" not in {row[users["columns"].index("username")] for row in users["rows"]}
    assert len(data["tables"]["classroom"]["rows"]) == 1
    assert data["counts"]["run"] == 5  # four runs and the archive of a reset
    source = counts()
    source.update(user=source["user"] - 1, classroom=source["classroom"] - 1)  # another class

    with target.app_context():
        # The target is in use: its ids are not the file's (every reference must be rewritten).
        here = make_user("someone-else", is_instructor=True)
        play(start_run("b2b-normal", {"buyer": [here.id]}), until="ship")
        play(start_run("b2c-return"))
        already = counts()
        code, out = cli(target, "import", path)
        assert code == 0, out
        assert "Imported class '电商一班'" in out
        imported = counts()
        assert {k: imported[k] - already[k] for k in imported} == source
        new_id = db.session.scalar(select(Classroom.id).where(Classroom.name == "电商一班"))
        teacher2 = login(target.test_client(), "teacher")  # the same password works here
        after = what_the_class_shows(teacher2, new_id)
        code, out = cli(target, "verify")
        assert code == 0 and "Consistent: no difference." in out, out
        # The reset's event names the archive that keeps what the run held, here too.
        reset = db.session.scalar(select(Event).where(Event.action == repair.RESET))
        archive = db.session.get(Run, reset.params["archive"])
        assert archive.status == "archived" and archive.archived_from_id == reset.run_id
        # A student logs in with the same password and finds the run where it was.
        reflection = db.session.scalar(select(Reflection))
        buyer = db.session.get(User, reflection.user_id)
        student = student_client(target, buyer)
        page = student.get(f"/classroom/run/{reflection.run_id}/report/{buyer.id}")
        assert "我学会了退货流程。" in page.get_data(as_text=True)

    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], key
    rows = list(csv.reader(io.StringIO(before["csv 0"].decode("utf-8-sig"))))
    assert len(rows) == 15 and rows[1][0] in ("1", "2")  # 14 students, not an empty sheet


def test_importing_twice_refuses_existing_usernames_unless_told_to_reuse_them(app, tmp_path):
    class_id, teacher = small_class(app)
    path = tmp_path / "class.json"
    assert cli(app, "export", class_id, path)[0] == 0
    before = counts()
    code, out = cli(app, "import", path)
    assert code == 1
    assert "15 usernames of the export exist in this database already: 20260001" in out
    assert "teacher" in out and "--reuse-accounts" in out and "Nothing was imported." in out
    assert counts() == before

    code, out = cli(app, "import", path, "--reuse-accounts")
    assert code == 0, out
    assert "its join code is now" in out and "15 already here and reused" in out
    copy = db.session.scalar(select(Classroom).where(Classroom.id != class_id))
    original = db.session.get(Classroom, class_id)
    assert copy.join_code != original.join_code and copy.instructor_id == original.instructor_id
    assert counts()["user"] == before["user"]
    assert cli(app, "verify")[0] == 0
    shown = what_the_class_shows(teacher, class_id)
    copied = what_the_class_shows(teacher, copy.id)
    for key in shown:
        if key.startswith(("csv", "xlsx", "rows", "grade ", "replay", "report")):
            assert copied[key] == shown[key], key


def test_imported_accounts_are_never_lab_admins(app, target, tmp_path):
    admin = make_user("boss", is_admin=True, is_instructor=True)
    db.session.add(Classroom(name="admin's class", instructor_id=admin.id, join_code="ADMINCLASS"))
    db.session.commit()
    class_id = db.session.scalar(select(Classroom.id))
    path = tmp_path / "c.json"
    assert cli(app, "export", class_id, path)[0] == 0
    with target.app_context():
        code, out = cli(target, "import", path)
        assert code == 0 and "Lab admins in the file are instructors only here: boss" in out
        boss = db.session.scalar(select(User).where(User.username == "boss"))
        assert boss.is_instructor and not boss.is_admin


def rewrite(path, change, fix_checksum=True):
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    if fix_checksum:
        data["checksum"] = checksum(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def set_cell(data, name, row, column, value):
    columns = data["tables"][name]["columns"]
    data["tables"][name]["rows"][row][columns.index(column)] = value


DAMAGES = [
    (lambda p: p.write_bytes(b"PK\x03\x04 not json"), "not an ecomlab class export (not JSON"),
    (lambda p: p.write_text('{"format": "something-else", "version": 1}'),
     "not an ecomlab class export (its format is not 'ecomlab-class')"),
    (lambda p: rewrite(p, lambda d: d.update(version=2)),
     "format version 2, made by a newer version of ecomlab"),
    (lambda p: rewrite(p, lambda d: d.update(version="1")), "format version '1' is not valid"),
    (lambda p: rewrite(p, lambda d: set_cell(d, "party", 0, "balance_cents", 10**9),
                       fix_checksum=False), "damaged or was edited after it was written"),
    (lambda p: rewrite(p, lambda d: d["tables"]["event"]["columns"].__setitem__(1, "colour")),
     "column colour unknown to this lab (a newer version wrote the file"),
    (lambda p: rewrite(p, lambda d: set_cell(d, "seat", 0, "user_id", 99999)),
     "user_id 99999 is not in the file's user rows"),
    (lambda p: rewrite(p, lambda d: set_cell(d, "document", 0, "qty", "many")),
     "table document, row 1, qty: a whole number is expected"),
    (lambda p: rewrite(p, lambda d: set_cell(d, "party", 0, "balance_cents", 10**9)),
     "does not add up (lab verify found 1 difference"),
]


def test_a_bad_foreign_newer_or_edited_file_is_refused_and_changes_nothing(app, tmp_path):
    class_id, _ = small_class(app)
    exported = tmp_path / "c.json"
    assert cli(app, "export", class_id, exported)[0] == 0
    # The usernames are free in this database: only the file's problem can refuse it.
    db.session.execute(User.__table__.update().values(
        username=User.username + "-old", username_key=User.username_key + "-old"))
    db.session.commit()
    before = counts()
    for n, (damage, message) in enumerate(DAMAGES):
        path = tmp_path / f"damaged-{n}.json"
        path.write_bytes(exported.read_bytes())
        damage(path)
        code, out = cli(app, "import", path)
        assert code == 1 and message in out, (message, out)
        assert "Nothing was imported." in out
        assert counts() == before, message
    assert cli(app, "verify")[0] == 0
    assert cli(app, "import", exported)[0] == 0  # the file as it was written imports


def test_every_table_is_exported_or_left_out_with_a_reason():
    """A new table must be put in a class's export (lab/backup.py TABLES) or said not to
    belong to it (NOT_EXPORTED); an exported table refers only to exported tables."""
    assert set(db.metadata.tables) == set(TABLES) | set(NOT_EXPORTED)
    for name in TABLES:
        for fk in table(name).foreign_keys:
            assert fk.column.table.name in TABLES, (name, fk.parent.name)
            assert TABLES.index(fk.column.table.name) <= TABLES.index(name) \
                or fk.column.table.name == name, (name, fk.parent.name)


def test_exporting_a_class_that_does_not_exist_writes_nothing(app, tmp_path):
    code, out = cli(app, "export", 999, tmp_path / "x.json")
    assert code == 1 and "There is no class 999" in out
    assert not (tmp_path / "x.json").exists()
