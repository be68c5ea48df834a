"""ecomlab: an e-commerce simulation training lab (电子商务模拟实训实验室)."""
import os
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import babel, csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("ECOMLAB_INSTANCE", str(ROOT / "instance")),
                template_folder=str(ROOT / "templates"), static_folder="static")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    from . import config as cfg
    app.config.update(cfg.from_environment(app.instance_path))
    app.config.update(config or {})
    # Refuses to start a shared database without a real key (RuntimeError saying how).
    app.config["SECRET_KEY"] = cfg.secret_key(app.config, app.instance_path, config or {})
    register_extensions(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    from flask_bootstrap import Bootstrap5

    from . import i18n
    i18n.compile_catalogs()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    Bootstrap5(app)
    from . import models  # noqa: F401  (registers the tables)
    from . import engine, rules
    engine.core.use_script(rules.Referee())  # scenario runs: the script's rules


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite: WAL (readers never wait for a writer), a generous busy timeout, foreign keys."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def register_blueprints(app: Flask) -> None:
    from roles import register_consoles

    from .auth import bp as auth_bp
    from .classroom import bp as classroom_bp
    from .live import bp as live_bp
    from .practice import bp as practice_bp
    from .views import bp as main_bp
    for bp in (main_bp, auth_bp, live_bp, practice_bp, classroom_bp):
        app.register_blueprint(bp)
    register_consoles(app)


def register_template_helpers(app: Flask) -> None:
    from .views import template_globals
    app.context_processor(template_globals)
    from .i18n import money, text
    app.add_template_filter(money, "money")
    app.add_template_filter(text, "text")


def register_cli(app: Flask) -> None:
    from .cli import lab_cli
    app.cli.add_command(lab_cli)
