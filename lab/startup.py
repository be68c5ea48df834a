"""What `python run.py` does before it serves: migrate the database, then either seed the demo
(the local quick start) or leave the accounts alone (a class start), and say what to do next.

A quick start is SQLite with no SECRET_KEY in the environment: one person trying the lab on
their own machine, where the demo's published logins (admin/demo123, teacher, …) hurt nobody.
Anything else (PostgreSQL, or a SECRET_KEY set for a shared server) is a class start: no account
is created, and the first lab admin is made with `flask --app run lab create-admin`."""
import os
from urllib.parse import urlsplit, urlunsplit

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from .config import environment_secret_key, is_sqlite
from .extensions import db
from .models import User

CREATE_ADMIN = ".venv/bin/flask --app run lab create-admin USERNAME"


def listen_address() -> tuple[str, int]:
    """HOST and PORT for the development server (127.0.0.1:5000 by default)."""
    return os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "5000"))


def shown_address(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def masked_database_url(app: Flask) -> str:
    """The database URL with its password replaced by ***, fit to print."""
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)


def masked_url(url: str) -> str:
    """Any URL with its password (user:password@) replaced by ***, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def rate_limit_text(app: Flask) -> str:
    """Where the login and join-code limits are counted (never with a password)."""
    if not app.config.get("RATELIMIT_ENABLED"):
        return "Rate limits: off (RATELIMIT_ENABLED=0)."
    storage = app.config["RATELIMIT_STORAGE_URI"]
    if storage.startswith("memory"):
        line = ("Rate limits: counted in each process's memory (set REDIS_URL so that every "
                "process and host shares one count).")
        if app.config["ECOMLAB_HOSTS"] > 1:
            line = "WARNING: " + line + f" ECOMLAB_HOSTS is {app.config['ECOMLAB_HOSTS']}."
        return line
    return f"Rate limits: counted in {masked_url(storage)}."


def is_quick_start(app: Flask) -> bool:
    return is_sqlite(app.config["SQLALCHEMY_DATABASE_URI"]) and environment_secret_key() is None


def migrate(app: Flask) -> None:
    """Bring the database schema up to date (Alembic; a second run changes nothing)."""
    from flask_migrate import upgrade
    upgrade(directory=app.extensions["migrate"].directory)


def prepare_for_start(app: Flask, address: str = "http://127.0.0.1:5000") -> str:
    """Migrate, seed the demo on a quick start only, and return the text to print (it never
    holds the database's password). Needs an app context."""
    migrate(app)
    if is_quick_start(app):
        from .demo import demo_text, seed
        seed()
        return demo_text(app, address)
    return class_start_text(app, address)


def class_start_text(app: Flask, address: str) -> str:
    reasons = []
    if not is_sqlite(app.config["SQLALCHEMY_DATABASE_URI"]):
        reasons.append("a shared database")
    if environment_secret_key() is not None:
        reasons.append("SECRET_KEY set")
    lines = [f"\necomlab is running: open {address}/  (database: {masked_database_url(app)})",
             "",
             f"Class start ({', '.join(reasons)}): no demo account is created here; the demo "
             "(admin/teacher/… with the published password) exists only on the local SQLite "
             "quick start.",
             rate_limit_text(app)]
    admins = db.session.scalars(select(User.username).where(User.is_admin.is_(True))
                                .order_by(User.id)).all()
    if admins:
        lines.append(f"Lab admins: {', '.join(admins)} (they create the instructors' accounts).")
    else:
        lines += ["No lab admin yet: make the first one (it asks for a password) with the same "
                  "DATABASE_URL and SECRET_KEY in the environment:",
                  f"  {CREATE_ADMIN}"]
    exposed = accounts_with_demo_password()
    if exposed:
        lines += ["",
                  f"WARNING: {', '.join(exposed)} still have the demo password published in the "
                  "README: anyone can log in as them. Log in as each and change the password "
                  "(the Password link in the top bar) before the class."]
    return "\n".join(lines) + "\n"


def accounts_with_demo_password() -> list[str]:
    """Demo accounts (seeded by an earlier version, or by `lab demo`) whose password is still
    the published one."""
    from .demo import DEMO_PASSWORD, DEMO_USERNAMES
    users = db.session.scalars(select(User).where(
        func.lower(User.username).in_(DEMO_USERNAMES)).order_by(User.id)).all()
    return [user.username for user in users if user.check_password(DEMO_PASSWORD)]
