"""Helpers shared by the tests: test configuration, the PostgreSQL schema per test process,
world builders (users, runs, acting, playing a scenario) and HTTP helpers (CSRF, login, post).

Import them with `from tests.helpers import ...`. Fixtures live in tests/conftest.py, which
pytest loads itself: never import conftest from a test (it would be loaded a second time, with
its own copy of every module-level state)."""
import atexit
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import text

from lab.engine import Actor, perform
from lab.extensions import db
from lab.models import Document, Event, Party, Product, Run, User
from lab.runs import create_run
from lab.scenario import load_file

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _pg_url(worker: str = "") -> str:
    """TEST_DATABASE_URL with the psycopg 3 driver."""
    url = PG_URL
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    return url


SCHEMA_PREFIX = "ecomlab_t"


def _pg_schema() -> str:
    """This test process's schema (xdist workers are processes: one each)."""
    return f"{SCHEMA_PREFIX}{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_schema_ready = False


def _prepare_pg_schema(engine) -> None:
    """Once per process: a new, empty schema; schemas of finished local test processes go."""
    global _schema_ready
    if _schema_ready:
        return
    schema = _pg_schema()
    local = urlsplit(PG_URL).hostname in (None, "", "localhost", "127.0.0.1", "::1")
    with engine.begin() as conn:
        if local:
            names = conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE "
                                      ":prefix"), {"prefix": SCHEMA_PREFIX + "%"}).scalars()
            for name in list(names):
                pid = name.removeprefix(SCHEMA_PREFIX)
                if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    atexit.register(_drop_pg_schema, schema)
    _schema_ready = True


def _drop_pg_schema(schema: str) -> None:
    from sqlalchemy import create_engine
    engine = create_engine(_pg_url())
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    except Exception:  # the server may be gone already; the next run cleans up
        pass
    finally:
        engine.dispose()


def _config(backend: str, tmp_path: Path) -> dict:
    config = {"TESTING": True, "SECRET_KEY": "test-secret", "BOT_DELAY_SECONDS": 0,
              "SERVER_NAME": None,
              # Tests create hundreds of accounts: a cheap hash keeps them fast (the app
              # itself uses scrypt).
              "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    if backend == "sqlite":
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    else:
        config["SQLALCHEMY_DATABASE_URI"] = _pg_url()
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"options": f"-csearch_path={_pg_schema()}"},
            "pool_pre_ping": True}
    return config


class IsolatedClient(FlaskClient):
    """Tests keep an app context pushed (to reach the database between requests); Flask then
    reuses it for the client's requests, and with it `g`, where Flask-WTF caches the CSRF token
    and Flask-Login the user. Each request gets a fresh `g`, as in a real server."""

    def open(self, *args, **kwargs):
        ctx = _cv_app.get(None)
        saved = ctx.g if ctx is not None else None
        if ctx is not None:
            ctx.g = ctx.app.app_ctx_globals_class()
        try:
            return super().open(*args, **kwargs)
        finally:
            if ctx is not None:
                ctx.g = saved


# ---- world builders -------------------------------------------------------------------------

def make_user(username: str, password: str = "pw123456", **fields) -> User:
    user = User(username=username, name=fields.pop("name", username.title()), **fields)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def start_run(slug: str, seats: dict[str, list[int]] | None = None, **kwargs) -> Run:
    """A running run of a shipped scenario (bots wait for the test unless told to tick)."""
    scenario = load_file(SCENARIOS / f"{slug}.yaml")
    kwargs.setdefault("bot_delay", 0)
    run = create_run(scenario, seats=seats or {}, start=True, **kwargs)
    db.session.commit()  # create_run flushes; the test is the edge that commits
    return run


def act(run, role, action, doc=None, **params):
    """Perform as a bot-free system actor in the role (engine tests need no seats)."""
    return perform(run.id if hasattr(run, "id") else run, Actor(role, "bot"), action, doc,
                   params)


def play(run, until: str | None = None) -> Run:
    """Play the run's scenario in order, a bot performing each step (and whatever must come
    first), up to but not including the step with id `until` (None: to the end)."""
    from lab.bots import play_step
    from lab.runs import grade_run, scenario_of
    for step in scenario_of(run).steps:
        if step.id == until:
            return run
        for _ in range(8):
            if next(s for s in grade_run(run).steps if s.id == step.id).met:
                break
            assert play_step(run, step), f"step {step.id} ({step.action}) could not be played"
        else:
            raise AssertionError(f"step {step.id} ({step.action}) is still not met")
    assert until is None, f"no step {until} in {run.scenario_slug}"
    return run


def events(run, ok: bool | None = True) -> list[Event]:
    """The run's events in order (accepted ones by default; ok=None: all)."""
    query = db.select(Event).where(Event.run_id == run.id).order_by(Event.id)
    if ok is not None:
        query = query.where(Event.ok.is_(ok))
    return list(db.session.scalars(query))


def balance(run, key) -> str:
    party = db.session.scalar(db.select(Party).where(Party.run_id == run.id, Party.key == key))
    db.session.refresh(party)
    cents = party.balance_cents
    return f"{cents // 100}.{cents % 100:02d}"


def stock(run, sku) -> int:
    product = db.session.scalar(db.select(Product).where(Product.run_id == run.id,
                                                         Product.sku == sku))
    db.session.refresh(product)
    return product.stock


def doc(run, kind, n=1) -> Document:
    """The n-th document of a kind in the run (1-based)."""
    docs = db.session.scalars(db.select(Document).where(Document.run_id == run.id,
                                                        Document.kind == kind)
                              .order_by(Document.id)).all()
    return docs[n - 1]


# ---- HTTP helpers ---------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf_token(client, url="/auth/login") -> str:
    page = client.get(url, follow_redirects=True).get_data(as_text=True)
    match = CSRF.search(page)
    assert match, "no csrf token on " + url
    return match.group(1)


# The password login() chooses for a student at the first login, in place of the roster's (or
# a reset's) one-time password.
OWN_PASSWORD = "my-own-pw1"


def login(client, username, password="pw123456"):
    """Log in; an account with a one-time password (a roster's) first chooses its own, as its
    student would: OWN_PASSWORD (test_first_login.py checks that step itself)."""
    token = csrf_token(client)
    response = client.post("/auth/login", data={"username": username, "password": password,
                                                "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    if response.location.endswith("/auth/password"):
        response = client.post("/auth/password", data={
            "current": password, "password": OWN_PASSWORD, "confirm": OWN_PASSWORD,
            "csrf_token": csrf_token(client, "/auth/password")})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def post(client, url, data=None, **kwargs):
    """POST a form with this client's CSRF token (taken from any page)."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client, "/"))
    return client.post(url, data=data, **kwargs)
