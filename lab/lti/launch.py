"""The routes a learning platform calls, cross-site: /lti/login and /lti/launch (exempt from
the CSRF token: the platform's signature, the state cookie and the one-time nonce protect them,
tool.py), and /lti/jwks. A refused login or launch answers the refusal page (400 or 403), is
logged on "lab.lti", and changes nothing."""
from __future__ import annotations

import logging

from flask import jsonify, redirect, render_template, session, url_for
from flask_login import login_user

from ..auth.accounts import record_login
from ..extensions import csrf, db
from ..views import commits
from . import bp, keys
from .accounts import account_for_launch
from .tool import STATE_COOKIE, LabLaunch, LaunchRefused, lti_request, refuse, start_login

log = logging.getLogger("lab.lti")


def refused(error: LaunchRefused, what: str):
    """The refusal page; the database is rolled back (a refusal changes nothing)."""
    db.session.rollback()
    log.warning("LTI %s refused (%s): %s", what, error.reason, error.detail or error.msg)
    return render_template("lti/refused.html", message=error.message, reason=error.reason,
                           what=what), error.status


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt
@commits
def login():
    """OIDC login initiation: the platform names itself (iss, client_id) and the user
    (login_hint); the lab sends the browser to the platform's authorization endpoint with a
    state (its cookie set here) and a nonce (recorded here)."""
    try:
        redirect_obj, platform = start_login(lti_request(), url_for("lti.launch",
                                                                    _external=True))
    except LaunchRefused as error:
        return refused(error, "login")
    log.info("LTI login for %s (client %s)", platform.issuer, platform.client_id)
    return redirect_obj.do_redirect()


@bp.route("/launch", methods=["POST"])
@csrf.exempt
@commits
def launch():
    """The platform posts the signed id_token (and the state): validated (tool.py), the user's
    lab account found or made, and logged in; an instructor goes to their classes, anybody else
    home."""
    lti = lti_request()
    message = LabLaunch(lti)
    try:
        message.validate()
        claims = message.body
        sub = claims.get("sub")
        if not isinstance(sub, str) or len(sub) > 255:
            raise refuse("incomplete", "sub is not a string of at most 255 characters")
        user, made = account_for_launch(message.registration.platform_id, claims)
        if user.is_locked:
            raise refuse("locked", f"account {user.username} is locked")
    except LaunchRefused as error:
        return refused(error, "launch")
    session.clear()  # whoever was logged in in this browser before
    login_user(user)
    record_login(user)
    log.info("LTI launch: %s %s (platform %s, sub %s)", "made" if made else "logged in",
             user.username, message.registration.platform_id, sub)
    target = url_for("classroom.index") if user.is_instructor or user.is_admin \
        else url_for("main.home")
    response = redirect(target, 303)
    response.delete_cookie(STATE_COOKIE.format(state=message.state()), path="/")
    return response


@bp.route("/jwks")
@commits  # the first call makes the key
def jwks():
    """The lab's public keys (JSON Web Key Set), for the platforms."""
    response = jsonify(keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
