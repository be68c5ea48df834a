"""The lab's own key pair for LTI 1.3: made once (RSA 2048, with `cryptography`), its private
half kept in the database (lti_key), its public half served as a JWKS at /lti/jwks. Platforms
fetch that JWKS to check what the lab signs: the service tokens of names-and-roles and grade
passback, and deep-linking responses (later slices). The newest key signs; every key is
published, so a new one can be added before an old one is dropped."""
from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from sqlalchemy import select

from ..extensions import db
from ..models import LtiKey

ALGORITHM = "RS256"  # what LTI 1.3 requires every tool and platform to support


def make_key() -> LtiKey:
    """A new key pair (flushed); its kid is the RFC 7638 thumbprint of its public key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    key = LtiKey(kid=JWK.from_pem(pem.encode("ascii")).thumbprint(), private_key_pem=pem)
    db.session.add(key)
    db.session.flush()
    return key


def current_key() -> LtiKey:
    """The key the lab signs with: the newest; made on first use (flushes; the caller commits).
    Two processes making the first one at once make two keys, both published: harmless."""
    key = db.session.scalar(select(LtiKey).order_by(LtiKey.id.desc()).limit(1))
    return key if key is not None else make_key()


def public_pem(key: LtiKey) -> str:
    return JWK.from_pem(key.private_key_pem.encode("ascii")).export_to_pem().decode("ascii")


def public_jwk(key: LtiKey) -> dict:
    jwk = JWK.from_pem(key.private_key_pem.encode("ascii")).export_public(as_dict=True)
    return {**jwk, "kid": key.kid, "alg": ALGORITHM, "use": "sig"}


def jwks() -> dict:
    """The lab's public keys, as a JSON Web Key Set (the newest first)."""
    current_key()
    keys = db.session.scalars(select(LtiKey).order_by(LtiKey.id.desc())).all()
    return {"keys": [public_jwk(key) for key in keys]}
