"""The demo the local quick start shows (lab/startup.py; a class start never seeds it, only an
explicit `flask --app run lab demo` does): an instructor, a class with one student per role playing
b2c-normal (every console can be tried), and a self-learner holding every seat of b2c-normal in a
practice run. Idempotent: running it again changes nothing that exists."""
from flask import current_app
from sqlalchemy import select

from .auth.accounts import create_user
from .extensions import db
from .models import Assignment, Classroom, Enrollment, Group, Run, User, find_user
from .runs import create_run
from .scenario import LIBRARY_DIR, load_file

DEMO_PASSWORD = "demo123"
# username → (display name, role in the demo class)
DEMO_STUDENTS = {
    "mall": ("王芳 Wang Fang", "mall_admin"),
    "buyer": ("林伟 Lin Wei", "buyer"),
    "sales": ("张强 Zhang Qiang", "supplier"),
    "warehouse": ("李娜 Li Na", "warehouse"),
    "finance": ("陈静 Chen Jing", "finance"),
    "purchasing": ("刘洋 Liu Yang", "purchasing"),
    "logistics": ("赵磊 Zhao Lei", "logistics"),
}
DEMO_USERNAMES = ["admin", "teacher", "learner", *DEMO_STUDENTS]


def _user(username, name, *, instructor=False, admin=False, student_no=None) -> User:
    return find_user(username) or create_user(username, DEMO_PASSWORD, name=name,
                                              student_no=student_no, instructor=instructor,
                                              admin=admin)


def seed() -> None:
    """Create what is missing of the demo, in one transaction (committed here: seed is what the
    `lab demo` command and the quick start run)."""
    _user("admin", "Lab admin 管理员", admin=True, instructor=True)
    teacher = _user("teacher", "周老师 Teacher Zhou", instructor=True)
    students = {}
    for i, (username, (name, role)) in enumerate(DEMO_STUDENTS.items()):
        students[role] = _user(username, name, student_no=f"2026{i + 1:04d}")
    learner = _user("learner", "自学者 Self-learner")

    classroom = db.session.scalar(select(Classroom).where(Classroom.join_code == "DEMO2026"))
    if classroom is None:
        classroom = Classroom(name="演示班 Demo class", instructor_id=teacher.id,
                              join_code="DEMO2026")
        db.session.add(classroom)
        db.session.flush()
        group = Group(classroom_id=classroom.id, number=1,
                      roles={role: user.id for role, user in students.items()})
        db.session.add(group)
        db.session.flush()
        for user in students.values():
            db.session.add(Enrollment(classroom_id=classroom.id, user_id=user.id,
                                      group_id=group.id))
        scenario = load_file(LIBRARY_DIR / "b2c-normal.yaml")
        assignment = Assignment(classroom_id=classroom.id, scenario_slug=scenario.id,
                                scenario_text=scenario.text, title=scenario.title)
        db.session.add(assignment)
        db.session.flush()
        create_run(scenario, kind="class", owner_id=teacher.id, group_id=group.id,
                   assignment_id=assignment.id, start=True,
                   bot_delay=current_app.config["BOT_DELAY_SECONDS"],
                   seats={role: [user.id] for role, user in students.items()})

    has_practice = db.session.scalar(select(Run.id).where(Run.owner_id == learner.id,
                                                          Run.kind == "solo"))
    if has_practice is None:
        scenario = load_file(LIBRARY_DIR / "b2c-normal.yaml")
        create_run(scenario, kind="solo", owner_id=learner.id, start=True,
                   bot_delay=current_app.config["BOT_DELAY_SECONDS"],
                   seats={role: [learner.id] for role in scenario.roles})
    db.session.commit()  # a command's edge: everything above, or nothing


def prepare(app) -> None:
    """Bring the database schema up to date (migrations) and seed the demo."""
    from .startup import migrate
    migrate(app)
    seed()


def demo_text(app, address: str) -> str:
    """What a quick start prints: the address and the demo's logins."""
    from .startup import masked_database_url
    return f"""
ecomlab is running: open {address}/  (database: {masked_database_url(app)})

Demo accounts (password for all: {DEMO_PASSWORD})
  instructor      teacher      class "演示班 Demo class" (join code DEMO2026), run b2c-normal
  lab admin       admin        creates instructor accounts
  self-learner    learner      a practice run holding every seat of b2c-normal
  students        {', '.join(f'{u} ({r})' for u, (_, r) in DEMO_STUDENTS.items())}
"""


def prepare_and_print(app) -> None:
    """`flask lab demo`: seed the demo on whatever database is configured, and print it."""
    from .startup import listen_address, shown_address
    prepare(app)
    print(demo_text(app, shown_address(*listen_address())), flush=True)
