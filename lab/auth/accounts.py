"""One way to make an account, whoever makes it: a student registering with a join code
(lab/auth), a roster import (lab/classroom/rosters.py), the lab admin creating an instructor
(the classroom's index), `flask lab create-admin` and the demo (lab/demo.py).

The username follows the one rule of lab/models/user.py (any case or width names one account);
the caller checks that the name is free, with its own message, and commits. A race that takes the
name meanwhile is an IntegrityError at the flush here."""
from __future__ import annotations

from sqlalchemy import update

from ..extensions import db
from ..models import Enrollment, User


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
