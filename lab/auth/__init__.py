"""Login, logout, self-registration with a class's join code, and changing one's password."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from ..extensions import db, login_manager
from ..models import User
from ..views import safe_next

bp = Blueprint("auth", __name__, url_prefix="/auth")
# /login is where people type it by hand: send them to the real page (keeping ?next=).
bp.record_once(lambda state: state.app.add_url_rule(
    "/login", "login_shortcut", lambda: redirect(url_for("auth.login", **request.args))))
login_manager.login_message = _l("Please log in to open this page.")
login_manager.login_message_category = "warning"


@login_manager.user_loader
def load_user(user_id: str):
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(
            func.lower(User.username) == form.username.data.strip().lower()))
        if user is not None and user.check_password(form.password.data):
            login_user(user)
            flash(_("Welcome, %(name)s.", name=user.display_name), "success")
            return redirect(safe_next(request.args.get("next"), url_for("main.home")))
        form.password.errors.append(_("Wrong username or password."))
        status = 401
    elif form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form), status


class RegisterForm(FlaskForm):
    join_code = StringField(_l("Class join code"), validators=[DataRequired(), Length(max=16)])
    student_no = StringField(_l("Student number"), validators=[
        DataRequired(), Length(max=40),
        Regexp(r"^[A-Za-z0-9_-]+$", message=_l("Letters, digits, - and _ only."))])
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


@bp.route("/register", methods=["GET", "POST"])
def register():
    """A student joins a class with its join code; the student number is the username."""
    from ..classroom.work import classroom_by_code
    from ..models import Enrollment
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        classroom = classroom_by_code(form.join_code.data)
        number = form.student_no.data.strip()
        if classroom is None:
            form.join_code.errors.append(_("No class has this join code: ask your instructor."))
        elif db.session.scalar(select(User.id).where(User.username == number)):
            form.student_no.errors.append(_("This student number is registered already: log "
                                            "in instead."))
        else:
            user = User(username=number, student_no=number, name=form.name.data.strip())
            user.set_password(form.password.data)
            db.session.add(user)
            db.session.flush()
            db.session.add(Enrollment(classroom_id=classroom.id, user_id=user.id))
            db.session.commit()
            login_user(user)
            flash(_("Welcome to %(name)s.", name=classroom.name), "success")
            return redirect(url_for("main.home"))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("auth/register.html", form=form), status


@bp.route("/join", methods=["POST"])
@login_required
def join():
    """A student who has an account joins one more class with its join code."""
    from ..classroom import work
    from ..errors import DomainError
    classroom = work.classroom_by_code(request.form.get("join_code", ""))
    home = redirect(url_for("main.home"))
    if classroom is None:
        flash(_("No class has this join code: ask your instructor."), "danger")
        return home, 303
    try:
        joined = work.join(current_user, classroom)
    except DomainError as error:
        flash(error.message, "danger")
        return home, 303
    if joined:
        flash(_("Welcome to %(name)s.", name=classroom.name), "success")
    else:
        flash(_("You are in %(name)s already.", name=classroom.name), "info")
    return home


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
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
def password():
    """Every logged-in user changes their own password (knowing the current one)."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        if current_user.check_password(form.current.data):
            current_user.set_password(form.password.data)
            db.session.commit()
            flash(_("Your password is changed: use the new one next time you log in."),
                  "success")
            return redirect(url_for("main.home"))
        form.current.errors.append(_("This is not your current password: nothing was "
                                     "changed."))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("auth/password.html", form=form), status
