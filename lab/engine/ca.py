"""The simulated CA (认证中心): Ed25519 key pairs whose private key is sealed with the holder's
password, certificates signed by a per-run CA key, and signatures over a contract's canonical
text. Real cryptography (the `cryptography` package), so an altered contract fails to verify.

Key escrow: the CA also keeps a copy of each private key sealed with a key of its own (derived,
like the CA's, from the lab's SECRET_KEY and the run). A bot playing the holder's role signs
with that copy, so a run whose certificate a student requested with a password of their own
never waits for a password the lab does not know; the holder's password itself is never
stored, and a student still signs only with it."""
import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from flask import current_app

from ..errors import InvalidInput, N_


def new_key_pair(password: str) -> tuple[str, str]:
    """(public key PEM, private key PEM encrypted with password)."""
    public, private, _ = _key_pair(password, None)
    return public, private


def new_escrowed_key_pair(password: str, run_id: int) -> tuple[str, str, str]:
    """(public key PEM, private key PEM encrypted with password, the same private key encrypted
    with the CA's escrow key for the run)."""
    return _key_pair(password, run_id)


def _key_pair(password: str, run_id: int | None):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    private = _sealed(key, password.encode())
    held = _sealed(key, _escrow_secret(run_id)).decode() if run_id is not None else None
    return public.decode(), private.decode(), held


def _sealed(key: Ed25519PrivateKey, secret: bytes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(secret))


def _escrow_secret(run_id: int) -> bytes:
    return hashlib.sha256(f"{current_app.config['SECRET_KEY']}:escrow:{run_id}".encode()) \
        .hexdigest().encode()


def sign(private_pem: str, password: str, message: str) -> str:
    try:
        key = serialization.load_pem_private_key(private_pem.encode(), password.encode())
    except (ValueError, TypeError):
        raise InvalidInput(N_("Wrong certificate password: nothing was signed."),
                           "password") from None
    return base64.b64encode(key.sign(message.encode())).decode()


def sign_escrowed(run_id: int, escrowed_pem: str, message: str) -> str:
    """Sign with the CA's escrowed copy of a holder's key (a bot playing the holder's role)."""
    return sign(escrowed_pem, _escrow_secret(run_id).decode(), message)


def verify(public_pem: str, message: str, signature: str) -> bool:
    try:
        key = serialization.load_pem_public_key(public_pem.encode())
        assert isinstance(key, Ed25519PublicKey)
        key.verify(base64.b64decode(signature), message.encode())
        return True
    except (InvalidSignature, ValueError, TypeError, AssertionError):
        return False


def _ca_key(run_id: int) -> Ed25519PrivateKey:
    seed = hashlib.sha256(f"{current_app.config['SECRET_KEY']}:ca:{run_id}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def certify(run_id: int, public_pem: str) -> str:
    """The CA's signature over a holder's public key."""
    return base64.b64encode(_ca_key(run_id).sign(public_pem.encode())).decode()


def certificate_valid(run_id: int, public_pem: str, ca_signature: str) -> bool:
    try:
        _ca_key(run_id).public_key().verify(base64.b64decode(ca_signature), public_pem.encode())
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def fingerprint(public_pem: str) -> str:
    digest = hashlib.sha256(public_pem.encode()).hexdigest()[:16].upper()
    return ":".join(digest[i:i + 4] for i in range(0, 16, 4))
