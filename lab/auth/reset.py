""""Forgot your password?" by e-mail, only where the lab can send e-mail (MAIL_SERVER is set:
README, "E-mail"). Without a mail server the page says the path there is: the instructor resets
the password on the class's credential sheet (a new one-time password).

The link carries a signed, dated token (itsdangerous, as Flask's sessions) naming the account
and a fingerprint of its current password hash and session generation: it works for
RESET_LINK_MINUTES, once (the new password changes the fingerprint), and not after any other
password change or logout-everywhere. The page that asks for the link answers the same whether
or not an account (or an e-mail address) exists, and the requests are rate limited per address
and per account, so it can neither list accounts nor flood somebody's mailbox."""
from __future__ import annotations

import hashlib
import logging
from smtplib import SMTPException

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_mail import Message
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..extensions import db, limiter, mail
from ..models import User, find_user, normalize_username
from ..views import commits
from .accounts import choose_own_password

bp = Blueprint("reset", __name__, url_prefix="/auth")
log = logging.getLogger(__name__)
SALT = "ecomlab-password-reset"
MAX_ACCOUNTS_PER_ADDRESS = 5  # one e-mail address may serve several accounts of one person


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def _fingerprint(user: User) -> str:
    text = f"{user.password_hash}|{user.session_generation}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def make_token(user: User) -> str:
    return _serializer().dumps([user.id, _fingerprint(user)])


def user_of_token(token: str) -> tuple[User | None, str | None]:
    """The account a reset link names, or None with why: 'expired' or 'invalid' (a forged or
    mangled link, one used already, one made before a later password change)."""
    minutes = current_app.config["RESET_LINK_MINUTES"]
    try:
        user_id, fingerprint = _serializer().loads(token, max_age=minutes * 60)
    except SignatureExpired:
        return None, "expired"
    except (BadSignature, ValueError, TypeError):
        return None, "invalid"
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or _fingerprint(user) != fingerprint:
        return None, "invalid"
    return user, None


def accounts_named(typed: str) -> list[User]:
    """The accounts a typed username or e-mail address names (with an address to write to)."""
    typed = typed.strip()
    if "@" in typed:
        return list(db.session.scalars(
            select(User).where(func.lower(User.email) == typed.lower(),
                               User.is_temporary.is_(False))
            .order_by(User.id).limit(MAX_ACCOUNTS_PER_ADDRESS)))
    user = find_user(typed)
    return [user] if user is not None and user.email and not user.is_temporary else []


def send_link(user: User) -> None:
    minutes = current_app.config["RESET_LINK_MINUTES"]
    link = url_for("reset.reset", token=make_token(user), _external=True)
    message = Message(
        subject=_("ecomlab: choose a new password"), recipients=[user.email],
        body=render_template("auth/reset_mail.txt", user=user, link=link, minutes=minutes))
    mail.send(message)


def _typed_target() -> str:
    return "reset:" + normalize_username(request.form.get("who", ""))[:200]


class ForgotForm(FlaskForm):
    who = StringField(_l("Username or e-mail address"),
                      validators=[DataRequired(), Length(max=200)])


class ResetForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[
        DataRequired(), Length(min=8, max=128, message=_l("At least 8 characters."))])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RESET_LIMIT_PER_ADDRESS"], methods=["POST"])
@limiter.limit(lambda: current_app.config["RESET_LIMIT_PER_ACCOUNT"], key_func=_typed_target,
               methods=["POST"])
def forgot():
    if current_user.is_authenticated:
        return redirect(url_for("auth.password"))
    if not mail_configured():
        return render_template("auth/forgot.html", form=None)
    form = ForgotForm()
    if form.validate_on_submit():
        for user in accounts_named(form.who.data):
            try:
                send_link(user)
            except (SMTPException, OSError):  # the answer stays the same: see the log
                log.exception("the password reset e-mail to user %s could not be sent", user.id)
        flash(_("If an account with this username or e-mail address has an e-mail address, a "
                "link to choose a new password is on its way to it. It works for %(n)s minutes. "
                "No e-mail? Ask your instructor to reset your password.",
                n=current_app.config["RESET_LINK_MINUTES"]), "info")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/forgot.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
@commits
def reset(token: str):
    user, why = user_of_token(token)
    if user is None:
        message = (_("This link is out of date: ask for a new one.") if why == "expired" else
                   _("This link is not valid (it was used already, or the password was changed "
                     "since): ask for a new one."))
        return render_template("auth/reset.html", form=None, message=message), 400
    if user.locked_at is not None:  # a new password would not open it: say why now
        return render_template("auth/reset.html", form=None, message=_(
            "This account is locked: ask your instructor or the lab's administrator.")), 403
    form = ResetForm()
    if form.validate_on_submit():
        choose_own_password(user, form.password.data)
        login_user(user)
        flash(_("Your password is changed: use the new one next time you log in."), "success")
        return redirect(url_for("main.home"), 303)
    return render_template("auth/reset.html", form=form, user=user), \
        400 if form.is_submitted() else 200
