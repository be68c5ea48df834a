"""Login, logout, registration (a student with a class's join code, or a self-learner on their
own), changing one's password, and "try a scenario now": a temporary self-learner account with a
practice run (temporary.py), which its user may keep under a username of their own. The lab
admin may close self-registration (lab/models/setting.py): then only a join code makes an
account here, and "try a scenario now" is closed too.

Usernames follow one rule (lab/models/user.py: normalize_username); a login checks one password
hash whether or not the account exists; each session carries its account's session generation,
so logging out or changing the password ends every earlier session, even a copied cookie; the
doors where guessing pays are rate limited (limits.py). An account whose password somebody else
made (a roster's, an instructor's reset: User.must_change_password) opens no page but the
password page until its user has chosen their own. A locked account (User.locked_at, set by a
lab admin: lab/admin) has no session and cannot log in; the login page says so only to whoever
typed its right password."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from ..classroom import work
from ..classroom.work import classroom_by_code
from ..errors import DomainError
from ..extensions import db, login_manager
from ..models import Enrollment, find_user, self_registration_open
from ..models.user import authenticate, clean_username, user_for_session
from ..views import commits, safe_next
from . import limits, temporary
from .accounts import (choose_own_password, create_learner, create_user, record_login,
                       refuse_unless_self_registration)

bp = Blueprint("auth", __name__, url_prefix="/auth")
# /login and /register are where people type them by hand: send them to the real pages (keeping
# ?next= and any other argument).
bp.record_once(lambda state: state.app.add_url_rule(
    "/login", "login_shortcut", lambda: redirect(url_for("auth.login", **request.args))))
bp.record_once(lambda state: state.app.add_url_rule(
    "/register", "register_shortcut",
    lambda: redirect(url_for("auth.register", **request.args))))
login_manager.login_message = _l("Please log in to open this page.")
login_manager.login_message_category = "warning"


@login_manager.user_loader
def load_user(session_id: str):
    """The session's user, unless the session was ended (logout, a new password)."""
    return user_for_session(session_id)


@bp.app_context_processor
def registration_helpers() -> dict:
    """Templates ask `self_registration_open()` (one query, only where a page shows a way in
    that depends on it: the landing page)."""
    return {"self_registration_open": self_registration_open}


# What an account that must choose its own password may still reach: the password page, logging
# out, the language switch and static files (the lab's and Bootstrap's); any other page, the live
# poll and page fragments too, sends it to the password page.
FIRST_LOGIN_OPEN = {"auth.password", "auth.logout", "main.set_language", "static"}


@bp.before_app_request
def first_login():
    """A user with a password somebody else made chooses their own before anything else."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in FIRST_LOGIN_OPEN or endpoint.endswith(".static") \
            or not current_user.is_authenticated or not current_user.must_change_password:
        return None
    return redirect(url_for("auth.password"), 303 if request.method == "POST" else 302)


@bp.app_errorhandler(429)
def too_many_attempts(_error):
    """A rate limit (limits.py) was reached: say what to do, on the page the person was on."""
    if request.endpoint == "auth.login":
        message = _("Too many failed logins for this account or from this computer. Wait a "
                    "minute, then try again.")
    elif request.endpoint == "auth.password":
        message = _("Too many wrong passwords. Wait a minute, then try again.")
    elif request.endpoint in ("auth.register", "auth.join"):
        message = _("Too many wrong join codes or registrations from this computer. Wait a "
                    "minute, check the code with your instructor, then try again.")
    elif request.endpoint == "auth.register_learner":
        message = _("Too many registrations from this computer. Wait a minute, then try "
                    "again.")
    elif request.endpoint == "reset.forgot":
        message = _("Too many password reset requests for this account or from this computer. "
                    "Try again in an hour, or ask your instructor to reset your password.")
    elif request.endpoint == "auth.try_now":
        message = _("Too many trial accounts were made from this address in the last hour. "
                    "Try again later, or log in, or join your class with its code.")
    else:
        message = _("Too many requests. Wait a minute, then try again.")
    return render_template("error.html", code=429, message=message), 429


# Typed usernames (the login's, and the student number a student registers with) go through
# clean_username: full-width letters and digits from a Chinese input method become ASCII.
class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)],
                           filters=[clean_username])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


@bp.route("/login", methods=["GET", "POST"])
@limits.login
@commits
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    status, locked = 200, False
    if form.validate_on_submit():
        user = authenticate(form.username.data, form.password.data)
        if user is not None and user.is_locked:
            # Said only after the right password: a wrong one gets the message of any wrong
            # password, so nobody learns which accounts are locked.
            locked, status = True, 403
        elif user is not None:
            login_user(user)
            record_login(user)
            flash(_("Welcome, %(name)s.", name=user.display_name), "success")
            if user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(safe_next(request.args.get("next"), url_for("main.home")))
        else:
            limits.count_failure()
            form.password.errors.append(_("Wrong username or password."))
            status = 401
    elif form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form, locked=locked), status


class RegisterForm(FlaskForm):
    join_code = StringField(_l("Class join code"), validators=[DataRequired(), Length(max=32)])
    student_no = StringField(_l("Student number"), validators=[
        DataRequired(), Length(max=40),
        Regexp(r"^[A-Za-z0-9_-]+$", message=_l("Letters, digits, - and _ only."))],
        filters=[clean_username])
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


def _register_page(form: "RegisterForm", learner_form: "LearnerForm", way: str, status: int,
                   refusal: str | None = None):
    """The registration page: the class's form ("Join my class with a code") and, while
    self-registration is open, the self-learner's ("Learn on my own"); `way` is the one shown
    first."""
    learners_open = self_registration_open()
    return render_template("auth/register.html", form=form, learner_form=learner_form,
                           learners_open=learners_open,
                           way=way if learners_open else "class", refusal=refusal), status


@bp.route("/register", methods=["GET", "POST"])
@limits.register
@commits
def register():
    """A student joins a class with its join code; the student number is the username."""
    form = RegisterForm()
    learner_form = LearnerForm(formdata=None)
    way = "learner" if request.args.get("way") == "learner" and request.method == "GET" \
        else "class"
    status = 200
    if form.validate_on_submit():
        classroom = classroom_by_code(form.join_code.data)
        number = form.student_no.data
        registered_already = _("This student number is registered already: log in instead.")
        if classroom is None:
            limits.count_failure()
            form.join_code.errors.append(_("No class has this join code: ask your instructor."))
        elif find_user(number) is not None:  # any case: BUYER is buyer's account
            form.student_no.errors.append(registered_already)
        else:
            try:
                user = create_user(number, form.password.data, name=form.name.data,
                                   student_no=number)
                db.session.add(Enrollment(classroom_id=classroom.id, user_id=user.id))
                db.session.flush()
            except IntegrityError:  # the same number registered at the same moment
                db.session.rollback()
                form.student_no.errors.append(registered_already)
            else:
                login_user(user)
                record_login(user)
                flash(_("Welcome to %(name)s.", name=classroom.name), "success")
                return redirect(url_for("main.home"))
        status = 400
    elif form.is_submitted():
        status = 400
    return _register_page(form, learner_form, way, status)


@bp.route("/register/learner", methods=["POST"])
@limits.register_learner
@commits
def register_learner():
    """A self-learner makes an account of their own (no class, no join code), is logged in
    and sent to the practice page; refused, creating nothing, while the lab admin keeps
    self-registration closed."""
    form = LearnerForm()
    class_form = RegisterForm(formdata=None)
    try:
        refuse_unless_self_registration()
    except DomainError as error:
        return _register_page(class_form, form, "class", error.status, refusal=error.message)
    if form.validate_on_submit():
        user = _claim_username(form, lambda: create_learner(
            form.username.data, form.password.data, form.name.data))
        if user is not None:
            login_user(user)
            record_login(user)
            flash(_("Welcome, %(name)s: your account is ready. Choose a scenario to practise: "
                    "you play every department you pick, and bots play the others.",
                    name=user.display_name), "success")
            return redirect(url_for("practice.index"))
    return _register_page(class_form, form, "learner", 400)


@bp.route("/join", methods=["POST"])
@login_required
@limits.join
@commits
def join():
    """A student who has an account joins one more class with its join code."""
    classroom = work.classroom_by_code(request.form.get("join_code", ""))
    home = redirect(url_for("main.home"))
    if classroom is None:
        limits.count_failure()
        flash(_("No class has this join code: ask your instructor."), "danger")
        return home, 303
    try:
        temporary.refuse_class(current_user)
        joined = work.join(current_user, classroom)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return home, 303
    if joined:
        flash(_("Welcome to %(name)s.", name=classroom.name), "success")
    else:
        flash(_("You are in %(name)s already.", name=classroom.name), "info")
    return home


@bp.route("/logout", methods=["POST"])
@login_required
@commits
def logout():
    """Ends this account's sessions everywhere: a copy of the cookie stops working too."""
    current_user.revoke_sessions()
    db.session.flush()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(),
                                                                Length(max=128)])
    password = PasswordField(_l("New password"), validators=[
        DataRequired(), Length(min=8, max=128, message=_l("At least 8 characters."))])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


@bp.route("/password", methods=["GET", "POST"])
@login_required
@limits.password
@commits
def password():
    """Every logged-in user changes their own password (knowing the current one: a student whose
    account a roster made has it on their slip). Every other session of the account ends; this
    one goes on. A temporary account has no password its
    user knows: it chooses one by keeping the account."""
    if current_user.is_temporary:
        return redirect(url_for("auth.keep"))
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not user.check_password(form.current.data):
            limits.count_failure()
            form.current.errors.append(_("This is not your current password: nothing was "
                                         "changed."))
        elif form.password.data == form.current.data:
            form.password.errors.append(_("Choose a new password, not the current one."))
        else:
            choose_own_password(user, form.password.data)
            login_user(user)  # this session, with the new session generation
            flash(_("Your password is changed: use the new one next time you log in."),
                  "success")
            return redirect(url_for("main.home"))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("auth/password.html", form=form), status


def _claim_username(form, make):
    """make() an account under form.username (the learner's registration, keeping a temporary
    account): the account, or None with the refusal on the username field and nothing kept."""
    try:
        return make()
    except DomainError as error:
        db.session.rollback()
        form.username.errors.append(error.message)
    except IntegrityError:  # the same username taken at the same moment
        db.session.rollback()
        form.username.errors.append(_("The username %(name)s is taken: choose another one.",
                                      name=form.username.data))
    return None


@bp.route("/try", methods=["POST"])
@limits.try_now
@commits
def try_now():
    """"Try a scenario now": a temporary self-learner account with a practice run, logged in
    and sent to the run's first console. Someone logged in already goes to their practice
    page."""
    if current_user.is_authenticated:
        return redirect(url_for("practice.index"), 303)
    if not self_registration_open():  # a temporary account is a self-registration too
        flash(_("Trying a scenario without an account is closed on this lab: log in, or join "
                "your class with the code your instructor gives you."), "warning")
        return redirect(url_for("main.home"), 303)
    try:
        user, run, first = temporary.start_trial(current_app.config["BOT_DELAY_SECONDS"])
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(url_for("main.home"), 303)
    login_user(user)
    record_login(user)
    flash(_("A temporary account was made for you, with a practice run: follow the guide on "
            "each page. Switch departments from the bar at the top."), "success")
    return redirect(url_for(f"{first}.index", run_id=run.id), 303)


class KeepForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(), Length(min=3, max=40),
        Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("Letters, digits, -, _ and . only."))],
        filters=[clean_username])
    name = StringField(_l("Name (optional)"), validators=[Length(max=100)])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(), Length(min=8, max=128, message=_l("At least 8 characters."))])
    confirm = PasswordField(_l("Password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


class LearnerForm(KeepForm):
    """"Learn on my own" on the registration page: a self-learner's account, with the same
    rules as keeping a temporary one."""


@bp.route("/keep", methods=["GET", "POST"])
@login_required
@limits.keep
@commits
def keep():
    """A temporary account becomes a real self-learner's account: a username and a password of
    its user's own; its practice runs stay. Any other account has nothing to keep."""
    if not current_user.is_temporary:
        return redirect(url_for("main.home"))
    form = KeepForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if _claim_username(form, lambda: temporary.keep(
                user, form.username.data, form.password.data, form.name.data) or user):
            login_user(user)  # this session, with the new session generation
            flash(_("Your account is kept: next time, log in as %(name)s with your password.",
                    name=user.username), "success")
            return redirect(url_for("main.home"))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("auth/keep.html", form=form), status
