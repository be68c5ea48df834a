"""Pages outside any console: home (a user's seats and classes), language switch, errors."""
import uuid
from urllib.parse import urlsplit

from flask import (Blueprint, current_app, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from .engine.labels import (FIELD_LABELS, KIND_LABELS, METHOD_LABELS, MOVE_LABELS, PAYMENT_LABELS,
                            RUN_STATUS_LABELS, STATE_LABELS, action_label, role_label)
from .errors import DomainError, render
from .extensions import db
from .i18n import current_language
from .models import Enrollment, Run, Seat

bp = Blueprint("main", __name__)


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site relative paths: never an open redirect."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//"):
            return target
    return fallback


@bp.route("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_instructor or current_user.is_admin:
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
    return render_template("home.html", runs=list(runs.values()), enrollments=enrollments)


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code):
    if code in current_app.config["LANGUAGES"]:
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


def template_globals() -> dict:
    return {
        "role_label": role_label, "action_label": action_label, "state_labels": STATE_LABELS,
        "kind_labels": KIND_LABELS, "payment_labels": PAYMENT_LABELS,
        "method_labels": METHOD_LABELS, "render_error": render, "lang": current_language(),
        "poll_seconds": current_app.config["POLL_SECONDS"],
        "field_label": lambda name: str(FIELD_LABELS.get(name, name)),
        "run_status_label": lambda status: str(RUN_STATUS_LABELS.get(status, status)),
        "new_request_key": lambda: uuid.uuid4().hex,
        "move_reason": lambda reason: str(MOVE_LABELS.get(reason, reason)),
    }
