"""The learning platforms registered by the lab admin (lti_platform): looking one up for a login
or a launch, and adding, changing and removing one. Services flush; the view commits."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select

from ..errors import N_, InvalidInput
from ..extensions import db
from ..models import LtiPlatform, LtiUser
from ..models.lti import URL_LENGTH

ID_LENGTH = 255
MAX_DEPLOYMENTS = 50
# Plain http is allowed only to this computer (a platform simulated in a test, a local trial).
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def url_problem(value: str) -> str | None:
    """Why `value` cannot be a platform's URL (a msgid), or None: an https URL with a host and
    no fragment; http only for 127.0.0.1 or localhost."""
    if len(value) > URL_LENGTH:
        return N_("At most 500 characters.")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return N_("Not a web address: copy it from the learning platform.")
    if parts.scheme not in ("https", "http") or not host or any(c.isspace() for c in value):
        return N_("Not a web address: copy it from the learning platform.")
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        return N_("Use the https address: plain http is accepted only for 127.0.0.1 or "
                  "localhost.")
    if parts.fragment:
        return N_("A web address here has no “#” part.")
    return None


def deployment_list(text: str) -> list[str]:
    """Deployment ids, one a line: trimmed, blank lines dropped, each once, in order."""
    seen: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line and line not in seen:
            seen.append(line)
    return seen


@dataclass
class PlatformData:
    issuer: str
    client_id: str
    deployment_ids: list[str]
    auth_login_url: str
    auth_token_url: str
    key_set_url: str


def find(issuer: str | None, client_id: str | None) -> LtiPlatform | None:
    """The registration of this issuer and client id; with no client id (a platform may leave
    it out of a login), the issuer's only registration, if it has exactly one."""
    if not issuer or len(issuer) > ID_LENGTH or (client_id and len(client_id) > ID_LENGTH):
        return None
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id:
        return db.session.scalar(query.where(LtiPlatform.client_id == client_id))
    found = db.session.scalars(query.limit(2)).all()
    return found[0] if len(found) == 1 else None


def all_platforms() -> list[LtiPlatform]:
    return list(db.session.scalars(select(LtiPlatform).order_by(LtiPlatform.issuer,
                                                                LtiPlatform.client_id)))


def accounts_made(platform_ids: list[int]) -> dict[int, int]:
    """How many lab accounts each platform's launches made (one query)."""
    if not platform_ids:
        return {}
    rows = db.session.execute(select(LtiUser.platform_id, func.count()).where(
        LtiUser.platform_id.in_(platform_ids)).group_by(LtiUser.platform_id))
    return {platform_id: count for platform_id, count in rows}


def save(platform: LtiPlatform | None, data: PlatformData) -> LtiPlatform:
    """Add a platform (platform None) or change one. InvalidInput (field client_id) when another
    registration has this issuer and client id already. Flushes."""
    clash = find(data.issuer, data.client_id)
    if clash is not None and clash is not platform:
        raise InvalidInput(N_("This issuer and client id are registered already: change that "
                              "registration instead."), "client_id")
    if platform is None:
        platform = LtiPlatform()
        db.session.add(platform)
    platform.issuer, platform.client_id = data.issuer, data.client_id
    platform.deployment_ids = list(data.deployment_ids)
    platform.auth_login_url, platform.auth_token_url = data.auth_login_url, data.auth_token_url
    platform.key_set_url = data.key_set_url
    db.session.flush()
    return platform


def delete(platform: LtiPlatform) -> None:
    """Remove a registration, its pending logins and its links to lab accounts; the accounts
    its launches made stay, with all they did. Flushes."""
    db.session.delete(platform)
    db.session.flush()
