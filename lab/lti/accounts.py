"""The lab account of a platform's user: made at their first launch, found again by
(platform, sub) at every later one (lti_user). Its username is `lti-<platform id>-<sub>`, made
safe for the lab's username rule; its password is random and never shown (its user comes in
through the platform); its name and e-mail follow the platform's; an Instructor or Administrator
launch makes it an instructor (never the reverse: an instructor may be a student in another
course)."""
from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..auth.accounts import create_user
from ..extensions import db
from ..models import LtiUser, User, find_user

STAFF_ROLES = {
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
    "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
    "Instructor", "Administrator",  # short forms some platforms send (LTI 1.3 §A.2.3)
}
USERNAME_LENGTH = 64
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_staff_launch(roles) -> bool:
    return isinstance(roles, list) and any(role in STAFF_ROLES for role in roles
                                           if isinstance(role, str))


def usernames(platform_id: int, sub: str):
    """Usernames for this user, best first: `lti-<platform>-<sub>` when the sub is short and
    plain; else (or when taken) its safe part with a digest of the whole sub."""
    prefix = f"lti-{platform_id}-"
    safe = UNSAFE.sub("-", sub).strip("-.") or "user"
    if safe == sub and len(prefix + sub) <= USERNAME_LENGTH:
        yield prefix + sub
    digest = hashlib.sha256(f"{platform_id}:{sub}".encode()).hexdigest()
    for size in (10, 20, 40):
        room = USERNAME_LENGTH - len(prefix) - size - 1
        yield f"{prefix}{safe[:room].rstrip('-.')}-{digest[:size]}"
    yield prefix + secrets.token_hex(16)


def display_name(claims: dict) -> str:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get(k) for k in ("given_name", "family_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return (name or "").strip()[:100]


def email_of(claims: dict) -> str | None:
    email = claims.get("email")
    return email.strip()[:200] if isinstance(email, str) and "@" in email else None


def account_for_launch(platform_id: int, claims: dict) -> tuple[User, bool]:
    """The account of the launch's user, and whether it was made now. Flushes; the caller
    commits (and rolls back on a refusal)."""
    sub = claims["sub"]
    staff = is_staff_launch(claims.get("https://purl.imsglobal.org/spec/lti/claim/roles"))
    user = _linked(platform_id, sub)
    made = user is None
    if made:
        try:
            with db.session.begin_nested():
                user = _make(platform_id, sub, claims)
        except IntegrityError:  # the same user's launch in another tab, at the same moment
            user = _linked(platform_id, sub)
            made = False
            if user is None:
                raise
    name, email = display_name(claims), email_of(claims)
    if name:
        user.name = name
    if email:
        user.email = email
    if staff:
        user.is_instructor = True
    db.session.flush()
    return user, made


def _linked(platform_id: int, sub: str) -> User | None:
    return db.session.scalar(select(User).join(LtiUser, LtiUser.user_id == User.id).where(
        LtiUser.platform_id == platform_id, LtiUser.sub == sub))


def _make(platform_id: int, sub: str, claims: dict) -> User:
    username = next(name for name in usernames(platform_id, sub) if find_user(name) is None)
    user = create_user(username, secrets.token_urlsafe(32), name=display_name(claims),
                       email=email_of(claims))
    db.session.add(LtiUser(platform_id=platform_id, sub=sub, user_id=user.id))
    db.session.flush()
    return user
