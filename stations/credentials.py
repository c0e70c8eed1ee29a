"""Station passwords: salted SHA-256, compared in constant time.

Station passwords are machine-generated, high-entropy secrets (OCPP asks for 16 to 40
characters), so a slow key-derivation function buys nothing but CPU: with Django's
PBKDF2 a reconnect storm of a few thousand stations costs minutes of CPU and daphne
drops handshakes. A fast salted hash keeps a stolen database from revealing them.
"""

import hashlib
import hmac
import secrets

_ALGORITHM = "sha256"


def hash_password(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((salt + password).encode()).hexdigest()
    return f"{_ALGORITHM}${salt}${digest}"


def check_password(password: str, encoded: str) -> bool:
    try:
        algorithm, salt, expected = encoded.split("$", 2)
    except ValueError:
        return False
    if algorithm != _ALGORITHM:
        return False
    digest = hashlib.sha256((salt + password).encode()).hexdigest()
    return hmac.compare_digest(digest, expected)


def generate_password() -> str:
    """A password within OCPP's 16-40 character limits."""
    return secrets.token_urlsafe(24)[:32]
