"""Temporary self-learner accounts: "try a scenario now" on the landing page.

One click makes an account nobody knows the password of (`User.is_temporary`), starts a
practice run of TRY_SCENARIO in it with every role the scenario uses (bots play nobody's role:
the learner switches between consoles), and the view logs the visitor in. A day after it was
made, the account is deleted with all it owns (its practice runs with their worlds and events,
its seats, its form keys): lazily, whenever another temporary account is made, and with
`flask --app run lab cleanup`. Its user may keep it instead: choose a username and a password
(keep()), and it is an ordinary self-learner's account from then on.

A temporary account joins no class (refuse_class): class data must never vanish with it."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ..errors import N_, InvalidInput
from ..extensions import db
from ..models import Run, User, find_user
from ..models.base import utcnow
from ..runs import acting_roles, delete_runs, start_practice
from ..scenario import Scenario, library
from .accounts import create_user

TRY_SCENARIO = "b2c-normal"  # the shortest whole flow of the library
LIFETIME = timedelta(days=1)
USERNAME_PREFIX = "guest-"

# Every column that refers to an account, and what deleting a temporary account does to its
# rows. tests/test_landing.py checks this against the models: a new reference to an account
# must be added here (or the cleanup would fail on it, or leave rows behind).
USER_REFERENCES = {
    ("run", "owner_id"): "delete",  # its practice runs; their rows go with them (CASCADE)
    ("seat", "user_id"): "delete",
    ("event", "user_id"): "unlink",  # in a run it does not own (none: it joins no class)
    ("form_submission", "user_id"): "delete",
    ("enrollment", "user_id"): "delete",
    ("reflection", "user_id"): "delete",
    ("adjustment", "user_id"): "delete",
    ("adjustment", "by_id"): "delete",
    ("upload_report", "user_id"): "delete",
    ("classroom", "instructor_id"): "never",  # instructors are never temporary
    ("lti_user", "user_id"): "never",  # an LMS user's account is made by a launch, not a trial
}


def try_scenario() -> Scenario | None:
    """The scenario "try now" starts (the first of the library if it is missing)."""
    scenarios = library()
    return next((s for s in scenarios if s.id == TRY_SCENARIO), scenarios[0] if scenarios
                else None)


def start_trial(bot_delay: float, now: datetime | None = None) -> tuple[User, Run, str]:
    """A new temporary account with a running practice run of try_scenario() holding every role
    the scenario uses: (the account, the run, the role whose console comes first). Expired
    temporary accounts are removed first. Flushes; the caller commits and logs the user in."""
    remove_expired(now)
    scenario = try_scenario()
    if scenario is None:
        raise InvalidInput(N_("No scenario is installed: ask the lab's administrator."))
    user = create_user(_free_guest_name(), secrets.token_urlsafe(24))
    user.is_temporary = True
    run, first = start_practice(scenario, user.id, acting_roles(scenario), bot_delay)
    return user, run, first


def _free_guest_name() -> str:
    while True:
        name = USERNAME_PREFIX + secrets.token_hex(4)
        if find_user(name) is None:
            return name


def expired_accounts(now: datetime | None = None) -> list[int]:
    """Ids of the temporary accounts made more than LIFETIME ago."""
    cutoff = (now or utcnow()) - LIFETIME
    return list(db.session.scalars(select(User.id).where(
        User.is_temporary.is_(True), User.is_instructor.is_(False), User.is_admin.is_(False),
        User.created_at < cutoff)))


def remove_expired(now: datetime | None = None) -> int:
    """Delete the expired temporary accounts with all they own; how many. Flushes; the caller
    commits."""
    ids = expired_accounts(now)
    if ids:
        remove_accounts(ids)
    return len(ids)


def remove_accounts(user_ids: list[int]) -> None:
    """Delete these accounts and every row that is theirs (USER_REFERENCES): their runs first,
    with everything in them (delete_runs), then the rows that name them elsewhere."""
    tables = db.metadata.tables
    delete_runs(list(db.session.scalars(select(Run.id).where(Run.owner_id.in_(user_ids)))))
    for (table_name, column_name), what in USER_REFERENCES.items():
        column = tables[table_name].c[column_name]
        if what == "delete":
            db.session.execute(delete(tables[table_name]).where(column.in_(user_ids)))
        elif what == "unlink":
            db.session.execute(update(tables[table_name]).where(column.in_(user_ids))
                               .values({column_name: None}))
    db.session.execute(delete(User).where(User.id.in_(user_ids))
                       .execution_options(synchronize_session=False))
    db.session.expire_all()


def keep(user: User, username: str, password: str, name: str = "") -> None:
    """The temporary account becomes an ordinary self-learner's account with this username and
    password (and name), keeping its practice runs. InvalidInput when the username is taken.
    Flushes; the caller commits and logs the user in again (the password changed)."""
    found = find_user(username)
    if found is not None and found.id != user.id:
        raise InvalidInput(N_("The username %(name)s is taken: choose another one."),
                           "username", name=username)
    user.username = username
    user.name = (name or "").strip()[:100]
    user.set_password(password)
    user.is_temporary = False
    db.session.flush()


def refuse_class(user: User) -> None:
    """A temporary account joins no class (its class work would vanish with it)."""
    if getattr(user, "is_temporary", False):
        raise InvalidInput(N_("A temporary account cannot join a class: register first (keep "
                              "this account with a username and a password), then join."),
                           "join_code")
