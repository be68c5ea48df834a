"""The lab admin's page of LTI platforms (/lti/platforms): the values to copy into the learning
platform (the lab's login, launch and key set URLs), the platforms registered, and the form
adding or changing one; removing one. Only a lab admin opens it (the same answers as the admin
console, lab/admin: anonymous to the login page, anybody else 403)."""
from __future__ import annotations

from functools import wraps

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from ..errors import DomainError
from ..extensions import db, login_manager
from ..models import LtiPlatform
from ..views import commits, form_id
from . import bp, platforms
from .platforms import ID_LENGTH, MAX_DEPLOYMENTS, PlatformData, deployment_list, url_problem


def admins_only(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_admin:
            return render_template("error.html", code=403, message=_(
                "Only the lab's administrators may open this page.")), 403
        return view(*args, **kwargs)
    return guarded


def web_address(_form, field):
    problem = url_problem(field.data or "")
    if problem:
        raise ValidationError(_(problem))


def deployments(_form, field):
    ids = deployment_list(field.data)
    if not ids:
        raise ValidationError(_("Give at least one deployment id, one a line."))
    if len(ids) > MAX_DEPLOYMENTS or any(len(i) > ID_LENGTH for i in ids):
        raise ValidationError(_("At most 50 deployment ids of at most 255 characters each."))


class PlatformForm(FlaskForm):
    issuer = StringField(_l("Issuer (Platform ID)"), validators=[
        DataRequired(), Length(max=ID_LENGTH), web_address], filters=[lambda v: (v or "").strip()])
    client_id = StringField(_l("Client ID"), validators=[DataRequired(), Length(max=ID_LENGTH)],
                            filters=[lambda v: (v or "").strip()])
    deployment_ids = TextAreaField(_l("Deployment IDs (one a line)"),
                                   validators=[DataRequired(), deployments])
    auth_login_url = StringField(_l("Authentication request URL (OIDC auth endpoint)"),
                                 validators=[DataRequired(), web_address],
                                 filters=[lambda v: (v or "").strip()])
    auth_token_url = StringField(_l("Access token URL"), validators=[DataRequired(), web_address],
                                 filters=[lambda v: (v or "").strip()])
    key_set_url = StringField(_l("Public keyset URL"), validators=[DataRequired(), web_address],
                              filters=[lambda v: (v or "").strip()])

    def data_(self) -> PlatformData:
        return PlatformData(self.issuer.data, self.client_id.data,
                            deployment_list(self.deployment_ids.data), self.auth_login_url.data,
                            self.auth_token_url.data, self.key_set_url.data)


def _platform(value: str | None) -> LtiPlatform | None:
    """The registration a form or query names (None: none; 404: no such registration)."""
    platform_id = form_id(value)
    if platform_id is None:
        return None
    platform = db.session.get(LtiPlatform, platform_id)
    if platform is None:
        abort(404)
    return platform


def _page(form: PlatformForm, editing: LtiPlatform | None, status: int = 200):
    registered = platforms.all_platforms()
    return render_template(
        "lti/platforms.html", form=form, editing=editing, platforms=registered,
        accounts=platforms.accounts_made([p.id for p in registered]),
        tool_urls={"login": url_for("lti.login", _external=True),
                   "launch": url_for("lti.launch", _external=True),
                   "jwks": url_for("lti.jwks", _external=True),
                   "home": url_for("main.home", _external=True)}), status


@bp.route("/platforms", methods=["GET", "POST"])
@admins_only
@commits
def platforms_page():
    """GET: the page (?edit=<id>: the form filled with that registration). POST: add a
    registration, or change the one the form's `platform` names."""
    if request.method == "GET":
        editing = _platform(request.args.get("edit"))
        form = PlatformForm(formdata=None)
        if editing is not None:
            form = PlatformForm(formdata=None, obj=editing)
            form.deployment_ids.data = "\n".join(editing.deployment_ids or [])
        return _page(form, editing)
    editing = _platform(request.form.get("platform"))
    form = PlatformForm()
    if form.validate_on_submit():
        try:
            saved = platforms.save(editing, form.data_())
        except DomainError as error:
            db.session.rollback()
            getattr(form, error.field).errors.append(error.message)
        else:
            flash(_("Saved the platform %(issuer)s (client id %(client)s).",
                    issuer=saved.issuer, client=saved.client_id), "success")
            return redirect(url_for("lti.platforms_page"), 303)
    return _page(form, editing, 400)


@bp.route("/platforms/delete", methods=["POST"])
@admins_only
@commits
def delete_platform():
    platform = _platform(request.form.get("platform"))
    if platform is None:
        flash(_("Choose the platform to remove on the list: nothing was changed."), "warning")
    else:
        issuer, client = platform.issuer, platform.client_id
        platforms.delete(platform)
        flash(_("Removed the platform %(issuer)s (client id %(client)s): its launches are "
                "refused from now on; the accounts they made stay.", issuer=issuer,
                client=client), "success")
    return redirect(url_for("lti.platforms_page"), 303)
