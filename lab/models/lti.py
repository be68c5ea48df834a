"""LTI 1.3: the learning platforms (Moodle, Canvas, …) registered by the lab admin, the lab's own
key pair (its public half is served as the JWKS the platforms verify the lab's messages with),
the nonces of OIDC logins (each accepted once: a replayed launch is refused), and the link from
a platform's user (its `sub`) to the lab account its first launch made (lab/lti)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow

URL_LENGTH = 500


class LtiPlatform(db.Model):
    """A platform registration: the issuer and client id it gave the lab, the deployments of the
    lab it made (a launch from another deployment is refused), and its three endpoints."""
    __tablename__ = "lti_platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    deployment_ids: Mapped[list] = mapped_column(JSON, default=list)  # [str, …]
    auth_login_url: Mapped[str] = mapped_column(String(URL_LENGTH))  # its OIDC auth endpoint
    auth_token_url: Mapped[str] = mapped_column(String(URL_LENGTH))  # OAuth2 token (services)
    key_set_url: Mapped[str] = mapped_column(String(URL_LENGTH))  # its public keys (JWKS)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiKey(db.Model):
    """The lab's RSA key pair for LTI, made once (lab/lti/keys.py); the newest signs, every one
    is published in the JWKS (so a new key can be added before an old one goes)."""
    __tablename__ = "lti_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiNonce(db.Model):
    """The nonce and state the lab sent with one OIDC login; `used_at` is set, once, by the
    launch that carries it (a guarded update: the same launch posted twice is refused)."""
    __tablename__ = "lti_nonce"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), unique=True)
    state: Mapped[str] = mapped_column(String(128))
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platform.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    used_at: Mapped[datetime | None]


class LtiUser(db.Model):
    """The lab account a platform's user (`sub`) was given at their first launch."""
    __tablename__ = "lti_user"
    __table_args__ = (UniqueConstraint("platform_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id", ondelete="CASCADE"))
    sub: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
