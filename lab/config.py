"""Configuration from the environment, with defaults that work with no configuration at all.

The secret key signs every session cookie, so a shared server must not run on a key anyone can
guess: on SQLite with no SECRET_KEY in the environment (the local quick start) one is generated
once into instance/secret_key; any other database needs a real SECRET_KEY (see secret_key()), and
so does a lab served by several hosts (ECOMLAB_HOSTS, see check_deployment()). Files the lab
creates itself (the key, the SQLite database) are readable by their owner only."""
import os
import secrets
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from .i18n import DEFAULT_LANGUAGE, LANGUAGES

MIN_SECRET_KEY_LENGTH = 16
OBVIOUS_SECRET_KEYS = {"demo123", "changeme", "change-me", "secret", "dev", "development",
                       "secret_key", "secretkey", "password"}
MAKE_A_KEY = "python -c \"import secrets; print(secrets.token_hex(32))\""


def environment_secret_key() -> str | None:
    """SECRET_KEY as the environment gives it (an empty value counts as unset)."""
    return os.environ.get("SECRET_KEY") or None


def is_sqlite(database_uri: str) -> bool:
    return make_url(database_uri).get_backend_name() == "sqlite"


def instance_secret_key(instance_path: str) -> str:
    """The key generated once into instance/secret_key, readable by its owner only.

    The file is created with O_EXCL, so two processes starting at once (gunicorn workers) agree
    on one key: the loser of the race reads the winner's file."""
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
        file.flush()
        os.fsync(file.fileno())
    return _read_key(path)


def _read_key(path: Path) -> str:
    if path.stat().st_mode & 0o077:  # written by an older version, readable by others
        try:
            path.chmod(0o600)
        except OSError:
            pass
    for _ in range(50):  # another process may have created it and not written it yet
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it and start again (a new key is generated).")


def secret_key(config: dict, instance_path: str, given: dict) -> str:
    """The SECRET_KEY the app runs with, or a RuntimeError saying how to set a real one.

    A key in `given` (the dict passed to create_app: tests, autoplay) is taken as it is. A key
    from the environment must look real (16 characters or more, not an obvious word). Without
    either, SQLite falls back to the generated instance/secret_key and any other database
    refuses to start."""
    if given.get("SECRET_KEY"):
        return given["SECRET_KEY"]
    key = environment_secret_key()
    if key is not None:
        if len(key) < MIN_SECRET_KEY_LENGTH or key.strip().lower() in OBVIOUS_SECRET_KEYS:
            raise RuntimeError(
                f"SECRET_KEY is too weak (it must be at least {MIN_SECRET_KEY_LENGTH} characters "
                f"and not an obvious word): it signs every login, so anyone who guesses it can "
                f"log in as anyone. Set SECRET_KEY to a long random value, e.g. the output of "
                f"{MAKE_A_KEY}")
        return key
    if is_sqlite(config["SQLALCHEMY_DATABASE_URI"]):
        return instance_secret_key(instance_path)
    raise RuntimeError(
        "SECRET_KEY is not set. A lab on a shared database (PostgreSQL) needs a secret key of "
        "its own: it signs every login, and every process serving the lab must use the same "
        f"one. Set SECRET_KEY to a long random value, e.g. the output of {MAKE_A_KEY}, and keep "
        "it private.")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise RuntimeError(f"{name} must be a whole number (it is {value!r}).")
    return int(value)


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise RuntimeError(f"{name} must be 1 or 0 (it is {value!r}).")


def _mail_settings() -> dict:
    """Flask-Mail's settings from the environment (README, "E-mail"). Port 465 means SSL from
    the first byte; any other port says STARTTLS unless MAIL_USE_TLS=0."""
    server = os.environ.get("MAIL_SERVER", "").strip()
    if not server:
        return {"MAIL_SERVER": None}
    port = _env_int("MAIL_PORT", 587)
    username = os.environ.get("MAIL_USERNAME", "").strip() or None
    sender = os.environ.get("MAIL_DEFAULT_SENDER", "").strip() or (
        username if username and "@" in username else None)
    if sender is None:
        raise RuntimeError("MAIL_SERVER is set but not MAIL_DEFAULT_SENDER: set it to the "
                           "address the lab's e-mails come from, e.g. "
                           "'ecomlab <noreply@example.edu>'.")
    return {"MAIL_SERVER": server, "MAIL_PORT": port, "MAIL_USERNAME": username,
            "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
            "MAIL_USE_SSL": port == 465,
            "MAIL_USE_TLS": port != 465 and _env_flag("MAIL_USE_TLS", True),
            "MAIL_DEFAULT_SENDER": sender}


def _env_zone(name: str) -> str:
    from .timezones import DEFAULT_ZONE, zone_or_none
    value = os.environ.get(name, "").strip()
    if not value:
        return DEFAULT_ZONE
    if zone_or_none(value) is None:
        raise RuntimeError(f"{name} must be a time zone name such as Asia/Shanghai or UTC "
                           f"(it is {value!r}).")
    return value


def check_deployment(config: dict, given: dict) -> None:
    """Refuse a configuration that cannot work on several hosts: each host would sign
    sessions and contracts with a key of its own (so logins and signatures break from one
    host to the next), or each would write its own SQLite file. RuntimeError saying how."""
    hosts = config["ECOMLAB_HOSTS"]
    if hosts <= 1:
        return
    if not (given.get("SECRET_KEY") or environment_secret_key()):
        raise RuntimeError(
            f"ECOMLAB_HOSTS is {hosts}, but SECRET_KEY is not set: every host must sign "
            "logins and contracts with the same key. Make one key, e.g. with "
            f"{MAKE_A_KEY}, and give the same SECRET_KEY to every host.")
    if is_sqlite(config["SQLALCHEMY_DATABASE_URI"]):
        raise RuntimeError(
            f"ECOMLAB_HOSTS is {hosts}, but the database is a SQLite file, which only one "
            "host can use: set DATABASE_URL to the PostgreSQL database every host shares.")


def create_private_sqlite_file(database_uri: str) -> None:
    """Create a SQLite database file readable by its owner only (0600, with O_EXCL: no moment
    where it exists with looser rights), before SQLite would create it world-readable; an
    existing file of ours with looser rights is tightened. SQLite gives its -wal and -shm
    files the rights of the database file."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return
    path = Path(url.database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        make_private(path)
    except FileNotFoundError:  # its folder does not exist: SQLite will say so
        pass


def make_private(path: Path, mode: int = 0o600) -> None:
    """Take group and other rights off a file or folder of ours (one an older version made)."""
    try:
        info = path.stat()
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            path.chmod(mode)
    except OSError:
        pass


def _rate_limit_storage() -> str:
    """Where rate limits are counted: Redis when configured (several processes or hosts then
    share one count), else each process's memory."""
    return (os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get("REDIS_URL")
            or "memory://").strip()


# Scripts only from the lab's own files (no inline script, no eval); styles may be inline
# (style attributes and the few <style> blocks of the print pages).
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": "'self'",
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def _database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "ecomlab.sqlite")
    # Accept the URLs hosting platforms hand out and use the psycopg 3 driver.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def from_environment(instance_path: str) -> dict:
    """Every setting but SECRET_KEY, which create_app settles with secret_key() once the
    database is known."""
    return {
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "BABEL_DEFAULT_LOCALE": DEFAULT_LANGUAGE,
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "LANGUAGES": dict(LANGUAGES),  # code: its own name (lab/i18n.py)
        "BOOTSTRAP_SERVE_LOCAL": True,
        # A form's security token lasts 6 hours: a page left open through a long class still
        # works; an older one answers "the page expired, reload it" (lab/views.py csrf_error).
        "WTF_CSRF_TIME_LIMIT": 6 * 3600,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # ECOMLAB_HTTPS=1: the lab is served over https (usually by a reverse proxy): the
        # session cookie is sent over https only and browsers are told to stay on https (HSTS).
        "ECOMLAB_HTTPS": _env_flag("ECOMLAB_HTTPS"),
        # ECOMLAB_PROXIES=N: N reverse proxies in front of the lab; their X-Forwarded-For and
        # X-Forwarded-Proto are trusted (client addresses for the rate limits, https).
        "ECOMLAB_PROXIES": _env_int("ECOMLAB_PROXIES", 0),
        # ECOMLAB_HOSTS=N: how many hosts serve this lab (more than 1 needs SECRET_KEY and a
        # shared database: check_deployment()).
        "ECOMLAB_HOSTS": _env_int("ECOMLAB_HOSTS", 1),
        "CONTENT_SECURITY_POLICY": CONTENT_SECURITY_POLICY,
        # Rate limits (Flask-Limiter; lab/auth/limits.py): counted in Redis when
        # RATELIMIT_STORAGE_URI or REDIS_URL is set, else in each process's memory.
        "RATELIMIT_ENABLED": _env_flag("RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": _rate_limit_storage(),
        "RATELIMIT_STRATEGY": "moving-window",
        "RATELIMIT_KEY_PREFIX": "ecomlab",
        "RATELIMIT_HEADERS_ENABLED": True,  # Retry-After on a 429
        "RATELIMIT_SWALLOW_ERRORS": True,  # Redis down: log it and let people log in
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Failed logins per account and per client address, wrong join codes per address,
        # registrations per address (a class behind one NAT registers at once), wrong current
        # passwords per account.
        "LOGIN_LIMIT_PER_ACCOUNT": "10 per minute",
        "LOGIN_LIMIT_PER_ADDRESS": "30 per minute",
        "JOIN_CODE_LIMIT_PER_ADDRESS": "20 per minute",
        "REGISTER_LIMIT_PER_ADDRESS": "300 per hour",
        "PASSWORD_LIMIT_PER_ACCOUNT": "10 per minute",
        # "Try a scenario now" (a temporary account and a practice run each) per client
        # address: enough for a room behind one NAT address to try it at once, not for a
        # script filling the database.
        "TRY_NOW_LIMIT_PER_ADDRESS": os.environ.get("TRY_NOW_LIMIT_PER_ADDRESS",
                                                    "").strip() or "60 per hour",
        # Seconds a bot waits after the last event before acting, so students see it happen.
        "BOT_DELAY_SECONDS": float(os.environ.get("BOT_DELAY_SECONDS", "2")),
        # Seconds between a console's polls for news.
        "POLL_SECONDS": float(os.environ.get("POLL_SECONDS", "2")),
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # Minutes a running group may go without an accepted action before the instructor's
        # board flags it as stalled (with what the guide says the run waits for).
        "STALL_MINUTES": float(os.environ.get("STALL_MINUTES", "5")),
        # The time zone of every time shown or exported outside a class (a class has its own:
        # lab/timezones.py), an IANA name.
        "LAB_TIMEZONE": _env_zone("LAB_TIMEZONE"),
        # E-mail, for "forgot your password?" only (lab/auth/reset.py): off unless MAIL_SERVER
        # is set. Without it the instructor's reset on the credential sheet is the way back in.
        **_mail_settings(),
        "RESET_LINK_MINUTES": _env_int("RESET_LINK_MINUTES", 60),
        # Reset links asked for per client address, and per typed account or address (so
        # nobody's mailbox is flooded).
        "RESET_LIMIT_PER_ADDRESS": "20 per hour",
        "RESET_LIMIT_PER_ACCOUNT": "3 per hour",
    }
