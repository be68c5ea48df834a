"""Pages outside any console: home (a user's seats and classes), language switch, errors; and
the guards every request passes (NUL bytes, ids in URLs and forms, `next`)."""
import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from .engine.labels import (FIELD_LABELS, KIND_LABELS, METHOD_LABELS, MOVE_LABELS, PAYMENT_LABELS,
                            RUN_STATUS_LABELS, STATE_LABELS, action_label, role_label)
from .classroom.access import is_staff
from .classroom.home import classes_of
from .errors import DomainError, render
from .extensions import db
from .i18n import current_language
from .models import Enrollment, Run, Seat
from .models.run import ROLES

bp = Blueprint("main", __name__)

# Ids are INTEGER columns (PostgreSQL: at most 2^31 - 1). A larger number in a URL or a form is
# no id of this lab: "not found", never an error of the database.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:…>` in every URL: a whole number from 0 to MAX_ID, else the route does not match
    (404)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


# Registered before any blueprint's rules are added (the main blueprint is registered first,
# and this runs first when it is): rules take their converters when they are added.
bp.record_once(lambda state: state.app.url_map.converters.__setitem__("int", IdConverter))


def commits(view):
    """The one place a request's changes are committed: services only flush, and a view that
    changes something is wrapped in this. Its changes are committed when it returns (a refusal
    it answers itself rolls back first), and rolled back when it raises (abort, an error).
    The engine's perform() is the documented exception: one action, one transaction of its
    own (lab/engine/core.py)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        try:
            response = view(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        return response
    return wrapped


def form_id(value: str | None) -> int | None:
    """An id sent in a form or query: None when absent or empty; 404 when it is something else
    than an id (letters, a sign, more than MAX_ID), so a bad id never reads as "none given"
    (which can mean "all of them")."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        abort(404)
    return int(value)


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site relative paths: never an open redirect, never a header break (CR/LF or
    another control character) nor a backslash that a browser reads as "//"."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//") and "\\" not in target \
                and all(" " <= ch != "\x7f" for ch in target):
            return target
    return fallback


@bp.before_app_request
def refuse_nul_bytes():
    """No text in this lab may hold a NUL character (PostgreSQL cannot store one): a form,
    query or upload name carrying one is refused whole (400) before any view reads it."""
    values = [request.path, *_texts(request.args)]
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*_texts(request.form), *request.files.keys(),
                   *(f.filename or "" for f in request.files.values())]
    if any("\x00" in value for value in values):
        message = _("The form or the address contains a NUL character, which no text here may "
                    "hold: nothing was changed.")
        if request.accept_mimetypes.best == "application/json":
            return jsonify(ok=False, error=message), 400
        return render_template("error.html", code=400, message=message), 400
    return None


def _texts(values) -> list[str]:
    """Every name and every value of a form or query (repeated fields too)."""
    return [text for key, value in values.items(multi=True) for text in (key, value)]


@bp.route("/")
def home():
    """Anonymous visitors: the landing page (what the lab is, for whom, the ways in, "try a
    scenario now"). Logged in: instructors their classes, everyone else their seats and classes."""
    if not current_user.is_authenticated:
        return render_template("landing.html", roles=ROLES)
    if is_staff(current_user):
        return redirect(url_for("classroom.index"))
    seats = db.session.execute(
        select(Seat, Run).join(Run, Seat.run_id == Run.id)
        .where(Seat.user_id == current_user.id).order_by(Run.id.desc(), Seat.id)).all()
    runs: dict[int, dict] = {}
    for seat, run in seats:
        entry = runs.setdefault(run.id, {"run": run, "roles": [], "left": run.seconds_left()
                                          if run.status in ("running", "paused") else None})
        entry["roles"].append(seat.role)
    enrollments = db.session.scalars(select(Enrollment).where(
        Enrollment.user_id == current_user.id)).all()
    classes, others = classes_of(current_user.id, list(runs.values()))
    return render_template("home.html", runs=list(runs.values()), enrollments=enrollments,
                           classes=classes, others=others)


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code):
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    session["lang"] = code
    return redirect(safe_next(request.form.get("next"), url_for("main.home")))


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return render_template("error.html", code=400, message=_(
        "The form expired or was not sent by this site (missing security token). Reload the "
        "page and try again: nothing was changed.")), 400


@bp.app_errorhandler(DomainError)
def domain_error(error):
    return render_template("error.html", code=error.status, message=error.message), error.status


@bp.app_errorhandler(403)
def forbidden(_error):
    return render_template("error.html", code=403, message=_(
        "You cannot open this page: it belongs to a seat or class you do not hold.")), 403


@bp.app_errorhandler(404)
def not_found(_error):
    return render_template("error.html", code=404, message=_(
        "There is no such page here (or it belongs to another run).")), 404


@bp.app_errorhandler(413)
def too_large(_error):
    return render_template("error.html", code=413, message=_(
        "The file is too large (at most 2 MB).")), 413


def new_request_key() -> str:
    """A form's one-time key: random and unguessable (lab/once.py binds it to its sender)."""
    return secrets.token_urlsafe(18)


def template_globals() -> dict:
    return {
        "role_label": role_label, "action_label": action_label, "state_labels": STATE_LABELS,
        "kind_labels": KIND_LABELS, "payment_labels": PAYMENT_LABELS,
        "method_labels": METHOD_LABELS, "render_error": render, "lang": current_language(),
        "poll_seconds": current_app.config["POLL_SECONDS"],
        "field_label": lambda name: str(FIELD_LABELS.get(name, name)),
        "run_status_label": lambda status: str(RUN_STATUS_LABELS.get(status, status)),
        "new_request_key": new_request_key,
        "move_reason": lambda reason: str(MOVE_LABELS.get(reason, reason)),
    }
