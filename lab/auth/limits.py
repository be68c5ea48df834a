"""Rate limits where guessing pays: passwords (login, the current password) and join codes;
on registrations; and on "try a scenario now", which makes an account and a run with each
click.

Only failures count (a view calls `count_failure()`), so a whole class logging in at once
from behind one NAT address is never slowed; a guesser is stopped after a few tries per
account and per address, with a 429 page that says to wait. The limits are app settings
(lab/config.py); the counts live in Redis when RATELIMIT_STORAGE_URI or REDIS_URL is set (shared
by every process and host), else in each process's memory."""
from flask import current_app, g, request
from flask_login import current_user

from ..extensions import limiter
from ..models import normalize_username


def count_failure() -> None:
    """This request failed in a way a guesser's would: it counts against the limits."""
    g.limit_failure = True


def _failed(_response) -> bool:
    return bool(g.get("limit_failure"))


def _setting(name: str):
    return lambda: current_app.config[name]


def _typed_account() -> str:
    return "account:" + normalize_username(request.form.get("username", ""))[:128]


def _logged_in_account() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else "anonymous"


def _stack(*decorators):
    def apply(view):
        for decorator in reversed(decorators):
            view = decorator(view)
        return view
    return apply


# Failed logins, per typed account and per client address.
login = _stack(
    limiter.limit(_setting("LOGIN_LIMIT_PER_ACCOUNT"), key_func=_typed_account,
                  methods=["POST"], deduct_when=_failed),
    limiter.limit(_setting("LOGIN_LIMIT_PER_ADDRESS"), methods=["POST"], deduct_when=_failed))

# Wrong join codes, per address, shared by registration and joining one more class.
_wrong_join_codes = limiter.shared_limit(_setting("JOIN_CODE_LIMIT_PER_ADDRESS"),
                                         scope="join-code", methods=["POST"],
                                         deduct_when=_failed)
# Registrations per address, counted together: a student's with a join code and a
# self-learner's.
_registrations = limiter.shared_limit(_setting("REGISTER_LIMIT_PER_ADDRESS"),
                                      scope="register", methods=["POST"])
register = _stack(_wrong_join_codes, _registrations)
register_learner = _registrations
join = _stack(
    _wrong_join_codes,
    limiter.limit(_setting("JOIN_CODE_LIMIT_PER_ADDRESS"), key_func=_logged_in_account,
                  methods=["POST"], deduct_when=_failed))

# Wrong current passwords on the password form, per account.
password = limiter.limit(_setting("PASSWORD_LIMIT_PER_ACCOUNT"), key_func=_logged_in_account,
                         methods=["POST"], deduct_when=_failed)

# "Try a scenario now" makes a temporary account and a practice run: every click counts, per
# address.
try_now = limiter.limit(_setting("TRY_NOW_LIMIT_PER_ADDRESS"), methods=["POST"])

# A temporary account kept under a username of its own, per address (as registrations).
keep = limiter.limit(_setting("REGISTER_LIMIT_PER_ADDRESS"), methods=["POST"])
