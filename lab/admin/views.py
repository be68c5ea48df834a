"""The lab admin's pages: the accounts (search, roles, classes, last login; lock and unlock) and
the site settings. One guard for the whole blueprint: anonymous visitors are sent to the login
page, every other account but a lab admin's gets 403, on every page and every form."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..errors import DomainError
from ..extensions import db, login_manager
from ..models import User, self_registration_open
from ..models.setting import SELF_REGISTRATION, set_flag
from ..views import commits, form_id, safe_next
from . import users as accounts
from .users import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin")

SEARCH_LENGTH = 100


@bp.before_request
def admins_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        return render_template("error.html", code=403, message=_(
            "Only the lab's administrators may open this page.")), 403
    return None


@bp.route("/users")
def users():
    """Every account, 50 a page: search by username, name or student number (any case);
    filter by role, locked accounts only, temporary accounts too."""
    filters = {"q": request.args.get("q", "").strip()[:SEARCH_LENGTH],
               "role": request.args.get("role", "") if request.args.get("role") in ROLE_LABELS
               else "",
               "locked": "1" if request.args.get("locked") == "1" else "",
               "temporary": "1" if request.args.get("temporary") == "1" else ""}
    page = accounts.user_page(filters["q"], request.args.get("page", 1, type=int),
                              role=filters["role"] or None, temporary=bool(filters["temporary"]),
                              locked_only=bool(filters["locked"]))
    return render_template("admin/users.html", page=page, filters=filters,
                           args={k: v for k, v in filters.items() if v},
                           role_labels=ROLE_LABELS)


def _account() -> User | None:
    """The account the form names (None: it names none; 404: no such account)."""
    user_id = form_id(request.form.get("user"))
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _back():
    """Back to the list as it was (its search, filters and page)."""
    return redirect(safe_next(request.form.get("next"), url_for("admin.users")), 303)


@bp.route("/users/lock", methods=["POST"])
@commits
def lock():
    user = _account()
    if user is None:
        flash(_("Choose the account to lock on the list of users: nothing was changed."),
              "warning")
        return _back()
    try:
        locked = accounts.lock(current_user._get_current_object(), user)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _back()
    if locked:
        flash(_("Locked %(name)s: they are logged out and cannot log in.", name=user.username),
              "success")
    else:
        flash(_("%(name)s is locked already: nothing was changed.", name=user.username), "info")
    return _back()


@bp.route("/users/unlock", methods=["POST"])
@commits
def unlock():
    user = _account()
    if user is None:
        flash(_("Choose the account to unlock on the list of users: nothing was changed."),
              "warning")
        return _back()
    if accounts.unlock(user):
        flash(_("Unlocked %(name)s: they can log in again with their password.",
                name=user.username), "success")
    else:
        flash(_("%(name)s is not locked: nothing was changed.", name=user.username), "info")
    return _back()


@bp.route("/settings", methods=["GET", "POST"])
@commits
def settings():
    """The site settings: self-registration for self-learners (open or closed)."""
    if request.method == "POST":
        wanted = request.form.get("self_registration")
        if wanted not in ("on", "off"):
            flash(_("Say whether self-registration is to be open or closed: nothing was "
                    "changed."), "warning")
            return redirect(url_for("admin.settings"), 303)
        on = wanted == "on"
        if not set_flag(SELF_REGISTRATION, on):
            flash(_("Self-registration for self-learners is open already: nothing was changed.")
                  if on else _("Self-registration for self-learners is closed already: nothing "
                               "was changed."), "info")
        elif on:
            flash(_("Self-registration for self-learners is open: anybody may make an account "
                    "of their own, or try a scenario with a temporary one."), "success")
        else:
            flash(_("Self-registration for self-learners is closed: “Learn on my own” and “Try "
                    "a scenario now” are gone; students still register with their class's "
                    "join code."), "success")
        return redirect(url_for("admin.settings"), 303)
    return render_template("admin/settings.html", self_registration=self_registration_open())
