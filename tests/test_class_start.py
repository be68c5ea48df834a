"""Issue 13, item 1: a class start must not hand out the README's admin/demo123.

`python run.py` seeds the demo only on the local quick start (SQLite, no SECRET_KEY in the
environment); a class start (PostgreSQL, or SECRET_KEY set) migrates, creates no account and says
how to make the first admin (`lab create-admin`); a shared database refuses to start without a
real SECRET_KEY; and every user can change their password.

The start-up tests build the app the way run.py does (create_app() reading the environment) in
a temporary instance folder and, on PostgreSQL, a schema of their own reached through
DATABASE_URL's search_path, and call the start-up function run.py calls (lab.startup)."""
import os
import re
import stat
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, func, inspect, select, text

from tests.helpers import PG_URL, _pg_url, csrf_token, login, make_user
from lab import create_app
from lab.demo import DEMO_PASSWORD
from lab.extensions import db
from lab.models import User
from lab.startup import prepare_for_start

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "5f1c0e9a2b7d4c3e8f6a1b0c9d2e7f4a"
DB_PASSWORD = "Pg-Pass-4711"  # the local server trusts root: any password connects
EN = {"Accept-Language": "en"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean start-up environment: its own instance folder, no DATABASE_URL, no SECRET_KEY."""
    monkeypatch.setenv("ECOMLAB_INSTANCE", str(tmp_path / "instance"))
    for name in ("DATABASE_URL", "SECRET_KEY", "ECOMLAB_HOSTS", "REDIS_URL",
                 "RATELIMIT_STORAGE_URI", "RATELIMIT_ENABLED", "ECOMLAB_HTTPS", "ECOMLAB_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def pg_schema():
    """A fresh PostgreSQL schema, and a DATABASE_URL (with a password) that works in it."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    schema = f"ecomlab_cs_{uuid.uuid4().hex[:12]}"
    engine = create_engine(_pg_url())
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = PG_URL.replace("://root@", f"://root:{DB_PASSWORD}@", 1)
    assert DB_PASSWORD in url, "this test expects TEST_DATABASE_URL's user to be root"
    sep = "&" if "?" in url else "?"
    yield schema, f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def start(app) -> tuple[str, int, list[str]]:
    """What `python run.py` prints before serving, and the accounts it leaves."""
    with app.app_context():
        shown = prepare_for_start(app)
        users = db.session.scalars(select(User.username).order_by(User.id)).all()
        db.session.remove()
        db.engine.dispose()  # leaves no connection behind in the schema dropped afterwards
    return shown, len(users), list(users)


# ---- start-up -------------------------------------------------------------------------------

def test_class_start_on_postgresql_creates_no_account_and_hides_the_db_password(env, pg_schema):
    schema, url = pg_schema
    env.setenv("DATABASE_URL", url)
    env.setenv("SECRET_KEY", STRONG_KEY)
    app = create_app()

    shown, count, _ = start(app)

    assert count == 0
    assert DEMO_PASSWORD not in shown and "Demo accounts" not in shown
    assert DB_PASSWORD not in shown and "***" in shown
    assert "lab create-admin USERNAME" in shown
    with app.app_context():
        assert "user" in inspect(db.engine).get_table_names(schema=schema)  # migrated
        db.engine.dispose()
    # A second start (after the admin exists) names the admin and still creates nobody.
    result = app.test_cli_runner().invoke(
        args=["lab", "create-admin", "Ada", "--password-stdin"], input="first-admin-pw\n")
    assert result.exit_code == 0, result.output
    shown, count, users = start(app)
    assert users == ["Ada"] and "Lab admins: Ada" in shown and "create-admin" not in shown


def test_class_start_on_sqlite_with_a_secret_key_creates_no_account(env):
    env.setenv("SECRET_KEY", STRONG_KEY)
    shown, count, _ = start(create_app())
    assert count == 0
    assert DEMO_PASSWORD not in shown
    assert "lab create-admin USERNAME" in shown
    assert not (Path(os.environ["ECOMLAB_INSTANCE"]) / "secret_key").exists()


def test_quick_start_seeds_the_demo_and_prints_its_logins_again_and_again(env):
    app = create_app()
    shown, count, users = start(app)
    assert {"admin", "teacher", "learner", "buyer"} <= set(users)
    assert f"password for all: {DEMO_PASSWORD}" in shown and "teacher" in shown
    assert "create-admin" not in shown
    again, count_again, _ = start(app)  # idempotent
    assert count_again == count and DEMO_PASSWORD in again


def test_class_start_warns_about_demo_accounts_a_previous_version_left(env):
    """A database seeded by the old run.py still has admin/demo123: say so, loudly."""
    from lab.demo import seed
    env.setenv("SECRET_KEY", STRONG_KEY)
    app = create_app()
    with app.app_context():
        from lab.startup import migrate
        migrate(app)
        seed()
        teacher = db.session.scalar(select(User).where(User.username == "teacher"))
        teacher.set_password("teacher-changed-it")
        db.session.commit()
    shown, _, _ = start(app)
    warning = next(line for line in shown.splitlines() if line.startswith("WARNING"))
    assert "admin" in warning and "learner" in warning and "teacher" not in warning


# ---- SECRET_KEY -----------------------------------------------------------------------------

def test_a_shared_database_refuses_to_start_without_a_secret_key(env):
    env.setenv("DATABASE_URL", "postgresql://lab:pw@db.example/lab")
    with pytest.raises(RuntimeError) as refused:
        create_app()
    message = str(refused.value)
    assert "Set SECRET_KEY" in message and "secrets.token_hex(32)" in message
    assert not (Path(os.environ["ECOMLAB_INSTANCE"]) / "secret_key").exists()


@pytest.mark.parametrize("key", ["short-key-15chr", "demo123", "changeme", "secret", "dev",
                                 "CHANGEME"])
@pytest.mark.parametrize("database", ["postgresql://lab:pw@db.example/lab", ""])
def test_a_weak_secret_key_is_refused(env, key, database):
    if database:
        env.setenv("DATABASE_URL", database)
    env.setenv("SECRET_KEY", key)
    with pytest.raises(RuntimeError, match="SECRET_KEY is too weak"):
        create_app()


def test_a_real_secret_key_or_one_given_by_the_caller_starts(env):
    env.setenv("DATABASE_URL", "postgresql://lab:pw@db.example/lab")
    env.setenv("SECRET_KEY", STRONG_KEY)
    assert create_app().config["SECRET_KEY"] == STRONG_KEY
    env.delenv("SECRET_KEY")
    given = create_app({"SECRET_KEY": "test-secret"})  # tests and autoplay pass their own
    assert given.config["SECRET_KEY"] == "test-secret"


def test_the_quick_start_key_is_generated_once_and_readable_by_its_owner_only(env):
    key_file = Path(os.environ["ECOMLAB_INSTANCE"]) / "secret_key"
    first = create_app().config["SECRET_KEY"]
    assert key_file.read_text().strip() == first and len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert create_app().config["SECRET_KEY"] == first  # reused, not regenerated


def test_an_old_world_readable_key_file_is_kept_and_tightened(env):
    key_file = Path(os.environ["ECOMLAB_INSTANCE"]) / "secret_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("an-older-key-0123456789abcdef\n")
    key_file.chmod(0o644)
    assert create_app().config["SECRET_KEY"] == "an-older-key-0123456789abcdef"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_quick_start_database_and_instance_folder_are_private(env):
    instance = Path(os.environ["ECOMLAB_INSTANCE"])
    start(create_app())
    database = instance / "ecomlab.sqlite"
    assert mode(instance) == 0o700
    assert mode(database) == 0o600 and database.stat().st_size > 0  # SQLite wrote into it
    for extra in (instance / "ecomlab.sqlite-wal", instance / "ecomlab.sqlite-shm"):
        if extra.exists():
            assert mode(extra) == 0o600, extra


def test_an_older_world_readable_database_and_folder_are_tightened(env):
    instance = Path(os.environ["ECOMLAB_INSTANCE"])
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    shown, _, _ = start(create_app())  # an older version's start
    database = instance / "ecomlab.sqlite"
    database.chmod(0o644)
    instance.chmod(0o755)
    shown_again, _, users = start(create_app())
    assert mode(database) == 0o600 and mode(instance) == 0o700
    assert "buyer" in users  # the same database, kept


def test_several_hosts_need_the_same_secret_key_and_a_shared_database(env):
    env.setenv("ECOMLAB_HOSTS", "2")
    with pytest.raises(RuntimeError, match="give the same SECRET_KEY to every host"):
        create_app()
    assert not (Path(os.environ["ECOMLAB_INSTANCE"]) / "secret_key").exists()
    env.setenv("SECRET_KEY", STRONG_KEY)
    with pytest.raises(RuntimeError, match="PostgreSQL database every host shares"):
        create_app()
    env.setenv("DATABASE_URL", "postgresql://lab:pw@db.example/lab")
    assert create_app().config["SECRET_KEY"] == STRONG_KEY
    env.setenv("ECOMLAB_HOSTS", "several")
    with pytest.raises(RuntimeError, match="ECOMLAB_HOSTS must be a whole number"):
        create_app()


def test_the_start_prints_no_secret(env):
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("REDIS_URL", "redis://:Redis-Pass-99@127.0.0.1:1/0")  # never connected here
    env.setenv("ECOMLAB_HOSTS", "1")
    shown, _, _ = start(create_app())
    assert STRONG_KEY not in shown and "Redis-Pass-99" not in shown
    assert "Rate limits: counted in redis://:***@127.0.0.1:1/0" in shown


def test_several_hosts_counting_limits_in_memory_are_warned(env):
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("ECOMLAB_HOSTS", "2")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql://lab:pw@db.example/lab"})
    from lab.startup import rate_limit_text
    assert rate_limit_text(app).startswith("WARNING: Rate limits: counted in each process")


# ---- lab create-admin -----------------------------------------------------------------------

def create_admin(app, *args, password="s3cure-admin-pw"):
    return app.test_cli_runner().invoke(
        args=["lab", "create-admin", *args, "--password-stdin"], input=password + "\n")


def test_create_admin_makes_an_admin_who_logs_in_through_the_form(app, client):
    result = create_admin(app, "alice", "--name", "Alice Admin")
    assert result.exit_code == 0, result.output
    assert "alice" in result.output
    user = db.session.scalar(select(User).where(User.username == "alice"))
    assert user.is_admin and user.is_instructor and user.name == "Alice Admin"
    login(client, "alice", "s3cure-admin-pw")
    page = client.get("/classroom/", headers=EN).get_data(as_text=True)
    assert "Instructor accounts" in page  # what only a lab admin sees


def test_create_admin_asks_for_the_password_twice(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["lab", "create-admin", "bob"],
                           input="typed-twice-pw\ntyped-twice-pw\n")
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output
    login(client, "bob", "typed-twice-pw")


def test_create_admin_refuses_a_taken_username_whatever_its_case(app):
    make_user("Alice", password="original-pw")
    result = create_admin(app, "alice")
    assert result.exit_code == 1
    assert "exists already" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert db.session.scalar(select(User).where(User.username == "Alice")) \
        .check_password("original-pw")


def test_create_admin_refuses_a_short_password(app):
    result = create_admin(app, "carol", password="short7!")
    assert result.exit_code == 1 and "at least 8 characters" in result.output
    assert db.session.scalar(select(User.id).where(User.username == "carol")) is None


# ---- changing one's password ----------------------------------------------------------------

def password_form(client, current, new, repeat=None):
    return client.post("/auth/password", headers=EN, data={
        "csrf_token": csrf_token(client, "/auth/password"), "current": current,
        "password": new, "confirm": new if repeat is None else repeat})


def can_log_in(app, username, password) -> bool:
    fresh = app.test_client()
    response = fresh.post("/auth/login", data={
        "username": username, "password": password, "csrf_token": csrf_token(fresh)})
    return response.status_code == 302


def test_a_wrong_current_password_changes_nothing(app, client):
    make_user("dora", password="old-password")
    login(client, "dora", "old-password")
    response = password_form(client, "not-my-password", "new-password")
    assert response.status_code == 400
    assert "This is not your current password" in response.get_data(as_text=True)
    assert can_log_in(app, "dora", "old-password")
    assert not can_log_in(app, "dora", "new-password")


@pytest.mark.parametrize("new, repeat", [("new-password", "new-passwrd"), ("short", "short")])
def test_a_mismatched_or_short_new_password_changes_nothing(app, client, new, repeat):
    make_user("eve", password="old-password")
    login(client, "eve", "old-password")
    assert password_form(client, "old-password", new, repeat).status_code == 400
    assert can_log_in(app, "eve", "old-password")


def test_changing_the_password_from_the_top_bar(app, client):
    make_user("fred", password="old-password")
    login(client, "fred", "old-password")
    home = client.get("/", headers=EN).get_data(as_text=True)
    assert 'href="/auth/password"' in home
    response = password_form(client, "old-password", "brand-new-password")
    assert response.status_code == 302
    after = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Your password is changed" in after
    assert can_log_in(app, "fred", "brand-new-password")
    assert not can_log_in(app, "fred", "old-password")


def test_the_password_page_is_translated(app, client):
    make_user("gina", password="old-password")
    login(client, "gina", "old-password")
    zh = client.get("/auth/password", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "修改密码" in zh and "当前密码" in zh


def test_the_password_page_needs_a_login(client):
    response = client.get("/auth/password")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_slash_login_reaches_the_login_page(client):
    response = client.get("/login?next=/classroom/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")
    page = client.get("/login", follow_redirects=True, headers=EN)
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)


# ---- README ---------------------------------------------------------------------------------

def test_the_readme_class_start_makes_an_admin_and_sets_a_secret_key():
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"## Running it for a class\n(.*?)\n## ", readme, re.S).group(1)
    assert "lab create-admin" in section and "SECRET_KEY" in section
    assert "secrets.token_hex" in section
