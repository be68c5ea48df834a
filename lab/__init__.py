"""ecomlab: an e-commerce simulation training lab (电子商务模拟实训实验室)."""
import os
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import babel, csrf, db, limiter, login_manager, mail, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("ECOMLAB_INSTANCE", str(ROOT / "instance")),
                template_folder=str(ROOT / "templates"), static_folder="static")
    from . import config as cfg
    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    cfg.make_private(Path(app.instance_path), 0o700)
    app.config.update(cfg.from_environment(app.instance_path))
    app.config.update(config or {})
    if app.config.get("TESTING") and "RATELIMIT_ENABLED" not in (config or {}):
        app.config["RATELIMIT_ENABLED"] = False  # only the tests of the limits turn them on
    # Refuses to start a shared database, or several hosts, without a real key (RuntimeError
    # saying how).
    cfg.check_deployment(app.config, config or {})
    app.config["SECRET_KEY"] = cfg.secret_key(app.config, app.instance_path, config or {})
    cfg.create_private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    register_extensions(app)
    register_security(app)
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
    mail.init_app(app)
    from . import timezones
    babel.init_app(app, locale_selector=i18n.select_locale,
                   timezone_selector=timezones.select_zone)
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


def register_security(app: Flask) -> None:
    """Proxies' headers (when configured), rate limits, and the security headers: a Content
    Security Policy that runs only the lab's own script files, HSTS and Secure cookies when
    served over https (lab/config.py explains the settings)."""
    from flask_talisman import Talisman
    from werkzeug.middleware.proxy_fix import ProxyFix
    proxies = app.config["ECOMLAB_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    limiter.init_app(app)
    https = app.config["ECOMLAB_HTTPS"]
    if https:
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = True
    app.extensions["talisman"] = Talisman(
        app, content_security_policy=app.config["CONTENT_SECURITY_POLICY"],
        force_https=False,  # the proxy in front redirects; here it could loop
        strict_transport_security=https, session_cookie_secure=https,
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
        frame_options="SAMEORIGIN")


def register_blueprints(app: Flask) -> None:
    from roles import register_consoles

    from .admin import bp as admin_bp
    from .auth import bp as auth_bp
    from .auth.reset import bp as reset_bp
    from .classroom import bp as classroom_bp
    from .classroom import views as _classroom_pages  # noqa: F401  (the classroom's routes)
    from .live import bp as live_bp
    from .lti import bp as lti_bp
    from .practice import bp as practice_bp
    from .views import bp as main_bp
    for bp in (main_bp, auth_bp, admin_bp, reset_bp, live_bp, practice_bp, classroom_bp,
               lti_bp):
        app.register_blueprint(bp)
    register_consoles(app)


def register_template_helpers(app: Flask) -> None:
    from .views import template_globals
    app.context_processor(template_globals)
    from .i18n import money, text
    app.add_template_filter(money, "money")
    app.add_template_filter(text, "text")
    from .join_codes import shown
    app.add_template_filter(shown, "join_code")
    from . import assets, timezones
    timezones.register(app)
    assets.register(app)


def register_cli(app: Flask) -> None:
    from .cli import lab_cli
    app.cli.add_command(lab_cli)
