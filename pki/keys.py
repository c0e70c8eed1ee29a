"""CA private keys at rest: AES-256-GCM under a key-encryption key from the environment.

The sealed blob is bound to the CA certificate's fingerprint (associated data), so a key
copied onto another CA row does not open. Keys are opened only for the moment of signing.
"""

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_VERSION = b"\x01"
_NONCE_BYTES = 12


def _key_encryption_key() -> bytes:
    configured = settings.PKI_KEY_ENCRYPTION_KEY
    if configured:
        material = configured.encode()
    elif settings.PKI_DEVELOPMENT_KEY_ALLOWED:
        # Development only: derived from the (development) SECRET_KEY.
        material = b"development:" + settings.SECRET_KEY.encode()
    else:
        raise ImproperlyConfigured(
            "Refusing to use CA private keys with DEBUG=false and no PKI_KEY_ENCRYPTION_KEY: "
            "set it to a long random value (and keep it: CA keys cannot be opened without it)."
        )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"chargenet pki kek v1").derive(material)


def seal_private_key(private_key, *, bound_to: str) -> bytes:
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(_key_encryption_key()).encrypt(nonce, der, bound_to.encode())


def open_private_key(blob: bytes, *, bound_to: str):
    blob = bytes(blob)
    if not blob or blob[:1] != _VERSION:
        raise ValueError("not a sealed private key")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    der = AESGCM(_key_encryption_key()).decrypt(nonce, sealed, bound_to.encode())
    return serialization.load_der_private_key(der, password=None)
