"""Configuration from the environment, with defaults that work with no configuration at all.

The secret key signs every session cookie, so a shared server must not run on a key anyone can
guess: on SQLite with no SECRET_KEY in the environment (the local quick start) one is generated
once into instance/secret_key; any other database needs a real SECRET_KEY (see secret_key())."""
import os
import secrets
import time
from pathlib import Path

from sqlalchemy.engine import make_url

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
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "LANGUAGES": ["zh", "en"],
        "BOOTSTRAP_SERVE_LOCAL": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Seconds a bot waits after the last event before acting, so students see it happen.
        "BOT_DELAY_SECONDS": float(os.environ.get("BOT_DELAY_SECONDS", "2")),
        # Seconds between a console's polls for news.
        "POLL_SECONDS": float(os.environ.get("POLL_SECONDS", "2")),
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # Minutes a running group may go without an accepted action before the instructor's
        # board flags it as stalled (with what the guide says the run waits for).
        "STALL_MINUTES": float(os.environ.get("STALL_MINUTES", "5")),
    }
