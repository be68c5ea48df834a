"""The simulated CA (认证中心): Ed25519 key pairs whose private key is sealed with the holder's
password, certificates signed by a per-run CA key, and signatures over a contract's canonical
text. Real cryptography (the `cryptography` package), so an altered contract fails to verify."""
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
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(password.encode()))
    return public.decode(), private.decode()


def sign(private_pem: str, password: str, message: str) -> str:
    try:
        key = serialization.load_pem_private_key(private_pem.encode(), password.encode())
    except (ValueError, TypeError):
        raise InvalidInput(N_("Wrong certificate password: nothing was signed."),
                           "password") from None
    return base64.b64encode(key.sign(message.encode())).decode()


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
