"""One way to make an account, whoever makes it: a student registering with a join code
(lab/auth), a self-learner registering on their own (create_learner, while the lab admin
leaves self-registration open: lab/models/setting.py), a roster import
(lab/classroom/rosters.py), the lab admin creating an instructor (the classroom's index),
`flask lab create-admin` and the demo (lab/demo.py).

The username follows the one rule of lab/models/user.py (any case or width names one account);
the caller checks that the name is free, with its own message, and commits. A race that takes the
name meanwhile is an IntegrityError at the flush here."""
from __future__ import annotations

from sqlalchemy import update

from ..errors import N_, Forbidden, InvalidInput
from ..extensions import db
from ..models import Enrollment, User, find_user, self_registration_open
from ..models.base import utcnow


def create_user(username: str, password: str, *, name: str = "", student_no: str | None = None,
                email: str | None = None, instructor: bool = False,
                admin: bool = False) -> User:
    """A new account with its password hashed, flushed (it has its id); the caller commits."""
    user = User(username=username, name=(name or "").strip()[:100], student_no=student_no,
                email=email, is_instructor=instructor, is_admin=admin)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def choose_own_password(user: User, password: str) -> None:
    """The user sets a password of their own: any password somebody else made for them (a
    roster's, an instructor's reset) is no longer asked to be changed, and the class credential
    sheets stop showing it. Every other session ends (set_password); the caller commits."""
    user.set_password(password)
    user.must_change_password = False
    db.session.execute(update(Enrollment).where(Enrollment.user_id == user.id)
                       .values(initial_password=None))
    db.session.flush()


def refuse_unless_self_registration() -> None:
    """Forbidden when the lab admin closed self-registration (nobody makes an account of their
    own, temporary or not; a class's join code still works)."""
    if not self_registration_open():
        raise Forbidden(N_("Self-registration is closed on this lab: join your class with the "
                           "code your instructor gives you, or ask the lab's administrator for "
                           "an account."))


def create_learner(username: str, password: str, name: str = "") -> User:
    """A self-learner's account of their own (in no class): Forbidden while self-registration
    is closed, InvalidInput when the username is taken (any case or width). Flushes; the
    caller commits and logs the user in."""
    refuse_unless_self_registration()
    if find_user(username) is not None:
        raise InvalidInput(N_("The username %(name)s is taken: choose another one."),
                           "username", name=username)
    return create_user(username, password, name=name)


def record_login(user: User) -> None:
    """The user just logged in: the admin's list of users shows when. Flushes."""
    user.last_login_at = utcnow()
    db.session.flush()
