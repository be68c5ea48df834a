"""Forms that change something outside the engine (the cart, the instructor's console) carry a
one-time `request_key` too. claim() records it in the current transaction; if it was recorded
before, the form was already handled and the caller does nothing.

A key is random (lab/views.py new_request_key: secrets.token_urlsafe) and bound to whoever
sends it: what is recorded is the sender's key, so a key copied from another person's page
(or guessed) can never make that person's form "already sent". The engine binds the keys of
actions the same way (lab/engine/core.py bound_key)."""
import hashlib
import re

from flask import request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import FormSubmission

KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


def form_key(form=None) -> str | None:
    """The form's one-time key when it looks like one (else None: an old page, or junk)."""
    key = (request.form if form is None else form).get("request_key", "")
    return key if KEY.fullmatch(key) else None


def claim() -> bool:
    """True the first time this form's key is seen (then commit with the change), False after."""
    key = form_key()
    if key is None:
        return True  # a form without a key (an old page): nothing to recognise it by
    user_id = current_user.id if current_user.is_authenticated else None
    db.session.add(FormSubmission(key=bound(user_id, key), user_id=user_id))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def bound(user_id: int | None, key: str) -> str:
    """The key as recorded: the sender's own (one user's key never matches another's)."""
    return hashlib.sha256(f"{user_id}:{key}".encode()).hexdigest()[:64]
