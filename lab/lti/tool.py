"""pylti1p3 fitted to the lab: the tool configuration read from the database (lti_platform and
the lab's key), the OIDC login, and a launch validated step by step, each failure named by a
reason the refusal page explains (LaunchRefused).

Where the state and the nonce live. The LMS sends the browser to /lti/login and, after its own
login check, makes it POST the signed id_token to /lti/launch: both cross-site. The lab's
session cookie is SameSite=Lax, so that POST arrives without it; the flask session cannot hold
the state or the nonce. So:
- the state is in a cookie of its own, `lti1p3-<state>`, set by the login (pylti1p3's
  FlaskCookieService: HttpOnly, 5 minutes, `SameSite=None; Secure` when served over https, which
  a cross-site POST carries). The launch requires it: this ties the launch to the browser that
  started the login, so nobody can post their own valid launch into another person's browser
  (login CSRF). The launch deletes it.
- the nonce is in the database (lti_nonce), written with its state and platform by the login:
  the launch must carry a nonce the lab issued, for that platform, with that state, less than
  NONCE_LIFETIME ago, and not used yet; it is marked used by one guarded UPDATE in the launch's
  transaction, so a launch posted twice (or by two processes at once) logs in once. Works with
  any number of processes and hosts.

Checked by the launch, in order: state (cookie and form agree), the token's shape, the platform
(issuer and client id registered), the signature with the platform's public key fetched from its
key set URL (the key its `kid` names, RS256), exp/iat (LEEWAY seconds of clock skew), iss and aud
(aud holds the client id; with several audiences azp must be the client id), the nonce, the
deployment id (one registered for the platform), the LTI version 1.3.0 and the message type
(LtiResourceLinkRequest only in this slice), and the claims it needs (sub, roles, resource link).
"""
from __future__ import annotations

import typing as t
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from flask import current_app, request
from pylti1p3.contrib.flask import (FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest,
                                      FlaskSessionService)
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import delete, select, update

from ..errors import N_, DomainError
from ..extensions import db
from ..models import LtiNonce, LtiPlatform
from ..models.base import utcnow
from . import keys, platforms

NONCE_LIFETIME = timedelta(minutes=10)  # from the login to the launch (seconds, in practice)
NONCE_KEPT = timedelta(days=1)  # used or not, a nonce row is deleted after this
LEEWAY = 60  # seconds of clock difference allowed between the platform and the lab
KEY_SET_TIMEOUT = 5  # seconds to fetch a platform's public keys
ALGORITHMS = {"RS256", "RS384", "RS512"}
STATE_COOKIE = "lti1p3-{state}"  # pylti1p3's cookie name for a state

RESOURCE_LINK = "LtiResourceLinkRequest"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


class LaunchRefused(DomainError):
    """A login or launch the lab refuses: `reason` names the check that failed (for the log and
    the tests), the message says what to do; `detail` is the library's own words, logged only."""

    def __init__(self, reason: str, msg: str, status: int = 403, detail: str = "", **args):
        super().__init__(msg, None, **args)
        self.reason, self.status, self.detail = reason, status, detail


def refuse(reason: str, detail: str = "", **args) -> LaunchRefused:
    msg, status = REASONS[reason]
    return LaunchRefused(reason, msg, status, detail, **args)


# reason → (message for the page, HTTP status). 400: the request is malformed or incomplete;
# 403: well formed, but not trusted.
REASONS: dict[str, tuple[str, int]] = {
    "login": (N_("The learning platform's login request lacks its issuer or login hint: open the "
                 "activity again from the course page."), 400),
    "platform": (N_("The learning platform %(issuer)s (client id %(client_id)s) is not "
                    "registered in this lab. The lab's administrator registers it on the LTI "
                    "platforms page, with the issuer and client id the platform shows for the "
                    "lab."), 403),
    "state": (N_("The launch did not come back to the browser that started it (its state is "
                 "missing, expired or wrong). Open the activity again from the course page; set "
                 "it to open in a new window if it keeps failing."), 400),
    "token": (N_("The launch carries no valid LTI 1.3 message (id_token): open the activity "
                 "again from the course page."), 400),
    "keys": (N_("The lab could not get the learning platform's public keys from its key set URL "
                "(%(url)s), or none of them is the key of this launch. Check the key set URL on "
                "the lab's LTI platforms page."), 403),
    "signature": (N_("The launch's signature is not the learning platform's: it was not signed "
                     "with a key of the platform's key set. Check the key set URL on the lab's "
                     "LTI platforms page; if it is right, the launch was forged."), 403),
    "expired": (N_("The launch has expired (or is dated in the future): a launch is valid for a "
                   "few minutes only. Open the activity again from the course page; if that "
                   "fails too, the clocks of the lab's server and of the platform differ."), 403),
    "claims": (N_("The launch was not issued for this lab: its issuer or audience (client id) "
                  "is not the registered one. Check the issuer and client id on the lab's LTI "
                  "platforms page."), 403),
    "nonce": (N_("The lab did not start this launch, or too long ago (its nonce is unknown or "
                 "expired): open the activity again from the course page."), 403),
    "replayed": (N_("This launch was used already: each launch opens the lab once. Open the "
                    "activity again from the course page."), 403),
    "deployment": (N_("The deployment %(deployment)s of the learning platform is not registered "
                      "in this lab. The lab's administrator adds it to the platform's "
                      "deployment ids on the LTI platforms page."), 403),
    "message": (N_("The lab opens resource links only (LtiResourceLinkRequest, LTI 1.3.0); this "
                   "launch is “%(type)s”. Add the lab to the course as an external tool "
                   "activity and open it from there."), 400),
    "incomplete": (N_("The launch lacks what LTI 1.3 requires (the user, the roles or the "
                      "resource link): check the tool's settings on the learning platform."),
                   400),
    "locked": (N_("Your lab account is locked by the lab's administrator: ask them to unlock "
                  "it."), 403),
}


class LabRegistration(Registration):
    """A registration that knows its row (lti_platform) and the lab's key id."""

    def __init__(self, platform: LtiPlatform):
        key = keys.current_key()
        self.platform_id = platform.id
        self.deployment_ids = list(platform.deployment_ids or [])
        self._kid = key.kid
        self.set_issuer(platform.issuer).set_client_id(platform.client_id) \
            .set_auth_login_url(platform.auth_login_url) \
            .set_auth_token_url(platform.auth_token_url).set_key_set_url(platform.key_set_url) \
            .set_tool_private_key(key.private_key_pem).set_tool_public_key(keys.public_pem(key))

    def get_kid(self) -> str:
        return self._kid


class LabToolConf(ToolConfAbstract):
    """The registrations in the database: an issuer may have several client ids."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss, *args, **kwargs):
        return self.find_registration_by_params(iss, None)

    def find_registration_by_params(self, iss, client_id, *args, **kwargs):
        platform = platforms.find(iss, client_id)
        return LabRegistration(platform) if platform is not None else None

    def find_deployment(self, iss, deployment_id):
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(self, iss, deployment_id, client_id, *args, **kwargs):
        platform = platforms.find(iss, client_id)
        if platform is None or deployment_id not in (platform.deployment_ids or []):
            return None
        return Deployment().set_deployment_id(deployment_id)


class DatabaseNonces(FlaskSessionService):
    """Nothing in the flask session (a cross-site POST does not carry it): the login records
    its nonce itself (start_login), the launch checks it (LabLaunch.validate_nonce)."""

    def save_nonce(self, nonce: str):
        pass

    def check_nonce(self, nonce: str) -> bool:
        return False  # never asked: LabLaunch checks the database

    def save_launch_data(self, key, jwt_body):
        pass  # a later slice (deep linking) keeps what it needs in the database

    def set_state_valid(self, state, id_token_hash):
        pass

    def check_state_is_valid(self, state, id_token_hash) -> bool:
        return False


class TimeoutSession(requests.Session):
    """A platform that does not answer holds a worker KEY_SET_TIMEOUT seconds at most."""

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", KEY_SET_TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        return super().request(*args, **kwargs)


def start_login(lti: FlaskRequest, launch_url: str):
    """The OIDC login initiation: the redirect to the platform's authorization endpoint (with
    the state cookie set), after recording the nonce; and the platform. LaunchRefused when the
    request lacks its issuer or login hint, or names no registered platform."""
    param = lti.get_param
    if not param("iss") or not param("login_hint"):
        raise refuse("login")
    login = FlaskOIDCLogin(lti, LabToolConf(), session_service=DatabaseNonces(lti))
    try:
        redirect = login.get_redirect_object(launch_url)
    except (LtiException, OIDCException) as error:
        raise refuse("platform", str(error), issuer=param("iss")[:255],
                     client_id=(param("client_id") or "—")[:255]) from error
    query = parse_qs(urlsplit(redirect.get_redirect_url()).query)
    platform = platforms.find(login.get_iss(), login.get_client_id())
    db.session.execute(delete(LtiNonce).where(LtiNonce.created_at < utcnow() - NONCE_KEPT))
    db.session.add(LtiNonce(nonce=query["nonce"][0], state=query["state"][0],
                            platform_id=platform.id))
    db.session.flush()
    return redirect, platform


class LabLaunch(FlaskMessageLaunch):
    """A resource-link launch validated as the module's docstring says; `validate()` raises
    LaunchRefused, naming the check that failed."""

    def __init__(self, lti: FlaskRequest):
        super().__init__(lti, LabToolConf(), session_service=DatabaseNonces(lti),
                         requests_session=TimeoutSession())
        self._nonce_row: LtiNonce | None = None

    @property
    def body(self) -> dict:
        return self._jwt.get("body", {})

    @property
    def registration(self) -> LabRegistration:
        return self._registration

    def state(self) -> str:
        return self._get_request_param("state") or ""

    def validate(self) -> LabLaunch:
        self._validated = True
        self.validate_state()
        self._step(self.validate_jwt_format, "token")
        header, body = self._jwt.get("header"), self._jwt.get("body")
        if not isinstance(header, dict) or not isinstance(body, dict) \
                or not isinstance(body.get("iss"), str) \
                or not isinstance(body.get("aud"), (str, list)):
            raise refuse("token", "header or body is not a JSON object with iss and aud")
        try:
            self.validate_registration()
        except LtiException as error:
            raise refuse("platform", str(error), issuer=str(self.body.get("iss", "—"))[:255],
                         client_id=str(self.get_client_id() or "—")[:255]) from error
        self.validate_jwt_signature()
        self.validate_nonce()
        try:
            self.validate_deployment()
        except LtiException as error:
            raise refuse("deployment", str(error), deployment=str(
                self.body.get(CLAIM + "deployment_id") or "—")[:255]) from error
        message_type = self.body.get(CLAIM + "message_type")
        if message_type != RESOURCE_LINK:
            raise refuse("message", f"message type {message_type!r}",
                         type=str(message_type or "—")[:80])
        self._step(self.validate_message, "incomplete")
        self.use_nonce()
        return self

    def _step(self, check: t.Callable, reason: str) -> None:
        try:
            check()
        except LtiException as error:
            raise refuse(reason, str(error)) from error

    def validate_state(self) -> LabLaunch:
        state = self.state()
        if not state or len(state) > 128 or not self._get_request_param("id_token"):
            raise refuse("state" if not state or len(state) > 128 else "token",
                         "no state or no id_token in the form")
        if self._cookie_service.get_cookie(state) != state:
            raise refuse("state", "no state cookie of this state in the browser")
        return self

    def validate_jwt_signature(self) -> LabLaunch:
        registration = self.registration
        alg = self._jwt.get("header", {}).get("alg")
        if alg not in ALGORITHMS:
            raise refuse("signature", f"algorithm {alg!r} not accepted")
        try:
            public_key, key_alg = self.get_public_key()
        except LtiException as error:
            raise refuse("keys", str(error), url=registration.get_key_set_url()) from error
        client_id = registration.get_client_id()
        try:
            jwt.decode(self._get_id_token(), public_key, algorithms=[key_alg],
                       audience=client_id, issuer=registration.get_issuer(), leeway=LEEWAY,
                       options={"require": ["exp", "iat", "iss", "aud", "nonce"]})
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as error:
            raise refuse("expired", str(error)) from error
        except (jwt.InvalidSignatureError, jwt.DecodeError) as error:
            raise refuse("signature", str(error)) from error
        except jwt.InvalidTokenError as error:
            raise refuse("claims", str(error)) from error
        aud, azp = self.body.get("aud"), self.body.get("azp")
        if (isinstance(aud, list) and len(aud) > 1 or azp is not None) and azp != client_id:
            raise refuse("claims", f"azp {azp!r} is not the client id")
        return self

    def get_public_key(self):
        url = self.registration.get_key_set_url() or ""
        try:
            return super().get_public_key()
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            raise LtiException(f"key set {url}: {error}") from error

    def validate_nonce(self) -> LabLaunch:
        nonce = self.body.get("nonce")
        row = db.session.scalar(select(LtiNonce).where(LtiNonce.nonce == nonce)) \
            if isinstance(nonce, str) and len(nonce) <= 128 else None
        if row is None or row.platform_id != self.registration.platform_id \
                or row.state != self.state():
            raise refuse("nonce", "no such nonce for this platform and state")
        if row.used_at is not None:
            raise refuse("replayed", f"nonce used at {row.used_at:%Y-%m-%d %H:%M:%S}")
        if row.created_at < utcnow() - NONCE_LIFETIME:
            raise refuse("nonce", "nonce older than the login's lifetime")
        self._nonce_row = row
        return self

    def use_nonce(self) -> None:
        """Mark the nonce used: one guarded UPDATE, so of two launches carrying it one wins."""
        done = db.session.execute(update(LtiNonce).where(
            LtiNonce.id == self._nonce_row.id, LtiNonce.used_at.is_(None)).values(
            used_at=utcnow()).execution_options(synchronize_session=False))
        if done.rowcount != 1:
            raise refuse("replayed", "nonce used by a launch at the same moment")


def lti_request() -> FlaskRequest:
    """The current request for pylti1p3. Served over https (ECOMLAB_HTTPS, or a proxy's
    X-Forwarded-Proto): the state cookie is `SameSite=None; Secure`, which a cross-site POST
    carries."""
    return FlaskRequest(request_is_secure=request.is_secure
                        or bool(current_app.config.get("ECOMLAB_HTTPS")))
