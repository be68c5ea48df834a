"""Accounts: one username rule, password hashes, and a session generation that revokes sessions.

The username rule lives here and only here: `normalize_username()` gives the key every login,
registration, roster import and admin form compares (NFKC, trimmed, case-folded), stored in
`User.username_key` under a unique index, so `BUYER`, ` buyer ` and full-width `ｂｕｙｅｒ` are one
account everywhere and on every database. `find_user()` is the one lookup."""
import unicodedata
from datetime import datetime
from functools import lru_cache

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import String, false, select, update
from sqlalchemy.orm import Mapped, mapped_column, validates
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import utcnow

USERNAME_KEY_LENGTH = 128  # NFKC and case folding may lengthen a 64-character username


def clean_username(raw: str) -> str:
    """A username as stored and shown: NFKC (full-width letters and digits become ASCII), no
    surrounding spaces; case kept."""
    return unicodedata.normalize("NFKC", raw or "").strip()


def normalize_username(raw: str) -> str:
    """The comparison key of a username: NFKC, trimmed, case-folded (and NFKC again, as case
    folding may leave a non-normalized string). `"  BUYER "` and `"ｂｕｙｅｒ"` give `"buyer"`."""
    return unicodedata.normalize("NFKC", clean_username(raw).casefold())


def find_user(raw: str) -> "User | None":
    """The account a typed username names (any case, spacing or width), or None."""
    key = normalize_username(raw)
    if not key or len(key) > USERNAME_KEY_LENGTH:
        return None
    return db.session.scalar(select(User).where(User.username_key == key))


def _hash_method() -> str:
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") \
        if has_app_context() else "scrypt"


@lru_cache(maxsize=8)
def _dummy_hash(method: str) -> str:
    return generate_password_hash("no such account: the same work as a real one", method=method)


def verify_dummy_password(password: str) -> bool:
    """Check a password against a throwaway hash made with the lab's hash method, so a login
    with an unknown username costs what a wrong password for a real account costs (timing
    does not tell which usernames exist). Always False."""
    check_password_hash(_dummy_hash(_hash_method()), password)
    return False


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # normalize_username(username), set whenever username is: the unique key of an account.
    username_key: Mapped[str] = mapped_column(String(USERNAME_KEY_LENGTH), unique=True,
                                              index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(100), default="")
    student_no: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    is_instructor: Mapped[bool] = mapped_column(default=False)
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Written into every session at login; bumping it (logout, password change) makes every
    # session issued before unusable, including a copied cookie.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # A temporary self-learner's account, made by "try a scenario now" (lab/auth/temporary.py):
    # nobody knows its password; it and all it owns are deleted a day after it was made, unless
    # its user keeps it (chooses a username and a password).
    is_temporary: Mapped[bool] = mapped_column(default=False, server_default=false(),
                                               index=True)
    # An account made with a password somebody else knows (a roster's initial password, an
    # instructor's reset): its user chooses their own at the next login (lab/auth, first_login)
    # before any other page opens.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When its user last logged in (naive UTC, set by the login page; None: never).
    last_login_at: Mapped[datetime | None]
    # Set when a lab admin locked the account (lab/admin): it cannot log in and every session
    # it had ended; None: not locked.
    locked_at: Mapped[datetime | None]

    @validates("username")
    def _set_username(self, _key, value: str) -> str:
        value = clean_username(value)
        key = normalize_username(value)
        if not key or len(key) > USERNAME_KEY_LENGTH:
            raise ValueError(f"unusable username {value!r}")
        self.username_key = key
        return value

    def set_password(self, password: str) -> None:
        """Set a new password; on an existing account this also ends every other session."""
        self.password_hash = generate_password_hash(password, method=_hash_method())
        if self.id is not None:
            self.session_generation = User.session_generation + 1  # in SQL: no lost bump

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def revoke_sessions(self) -> None:
        """End every session of this account (one atomic UPDATE; the caller commits)."""
        db.session.execute(update(User).where(User.id == self.id)
                           .values(session_generation=User.session_generation + 1))
        db.session.expire(self, ["session_generation"])

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the id and the session generation."""
        return f"{self.id}.{self.session_generation}"

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    @property
    def display_name(self) -> str:
        return self.name or self.username


def authenticate(username: str, password: str) -> User | None:
    """The account if the password is its password, else None; one password hash is checked
    either way (against a dummy hash when no account has this username). A locked account is
    returned too (its password is right): the login page says it is locked, and only then, so
    a wrong password never tells which accounts are locked."""
    user = find_user(username)
    if user is None:
        verify_dummy_password(password)
        return None
    return user if user.check_password(password) else None


def user_for_session(session_id: str) -> User | None:
    """The user a session's stored id names, if its session generation is still the current
    one and the account is not locked (Flask-Login's user loader)."""
    user_id, _, generation = (session_id or "").partition(".")
    if not (user_id.isdigit() and generation.isdigit()) or len(user_id) > 18:
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.session_generation == int(generation) \
        and user.locked_at is None else None
