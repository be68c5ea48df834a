"""Forms that change something outside the engine (the cart, the instructor's console) carry a
one-time `request_key` too. claim() records it in the current transaction; if it was recorded
before, the form was already handled and the caller does nothing."""
import re

from flask import request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import FormSubmission

KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def claim() -> bool:
    """True the first time this form's key is seen (then commit with the change), False after."""
    key = request.form.get("request_key", "")
    if not KEY.match(key):
        return True  # a form without a key (an old page): nothing to recognise it by
    db.session.add(FormSubmission(key=key, user_id=current_user.get_id() and current_user.id))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    return True
