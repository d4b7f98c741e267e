"""Credentials: random keys and public ids, stored as hashes and compared in constant time; and the
secret box that seals the secrets which must be read back (signing secrets).

Credentials carry a readable prefix (`hy_mgmt_`, `hy_live_`, ...) so a leaked one is recognisable.
They hold 192 random bits, so a plain SHA-256 is a sufficient one-way store (no slow KDF needed:
there is nothing to brute-force). This module never logs or returns a stored hash to a caller.

HOOKYARD_ENCRYPTION_KEY holds one or more Fernet keys, comma-separated, newest first: old keys still
decrypt, so the key can be rotated. `make run` and the tests provide one; production must set it, and
the release, web and worker processes refuse to start without it (`ready_to_start`).
"""

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import replace

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_credential(prefix: str) -> str:
    """Return a fresh credential: the prefix and 192 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(24)


def hash_credential(credential: str) -> str:
    """Return the hex SHA-256 under which a credential is stored and looked up."""
    return hashlib.sha256(credential.encode("utf-8")).hexdigest()


def credential_matches(credential: str | None, stored_hash: str | None) -> bool:
    """Tell, in constant time, whether a presented credential hashes to the stored hash."""
    if not credential or not stored_hash:
        return False
    return hmac.compare_digest(hash_credential(credential), stored_hash)


def display_prefix(credential: str, length: int = 12) -> str:
    """Return the short, non-secret head of a credential that lists show instead of it."""
    return credential[:length]


def new_public_id(prefix: str) -> str:
    """Return a time-ordered public id (`evt_...`): 48 bits of milliseconds, then 80 random bits.

    Sorting by id sorts by creation time, which is what cursor pagination walks.
    """
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return prefix + "".join(reversed(chars))


def derived_public_id(prefix: str, *parts: str) -> str:
    """Return a public id that is always the same for the same parts (an activity's webhook and externalId).

    128 bits of a SHA-256 of the parts: a repeat finds its first id without asking anyone.
    """
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    value = int.from_bytes(digest[:16], "big") << 2
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return prefix + "".join(reversed(chars))


class SecretBoxError(Exception):
    """The encryption key is missing, or does not open a stored secret."""


MISSING_KEY = (
    "HOOKYARD_ENCRYPTION_KEY is not set: generate one with "
    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'` "
    "and set it, the same, for the release, web and worker processes."
)


class SecretBox:
    def __init__(self, keys: str):
        if not keys:
            raise SecretBoxError(MISSING_KEY)
        try:
            self.fernet = MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])
        except ValueError as error:
            raise SecretBoxError(f"HOOKYARD_ENCRYPTION_KEY is not a Fernet key: {error}") from None

    def seal(self, secret: str) -> str:
        """Return the secret encrypted for storage."""
        return self.fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """Return a stored secret in the clear."""
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretBoxError("a stored secret does not open with HOOKYARD_ENCRYPTION_KEY") from None


def generate_key() -> str:
    """Return a new Fernet key."""
    return Fernet.generate_key().decode()


def ready_to_start(config, local_key_file: str):
    """Return `config` for a release, web or worker process to start with, or exit saying what is missing.

    Without HOOKYARD_ENCRYPTION_KEY, a checkout where `make run` made `local_key_file` uses that key (so
    `flask --app app create-org` works in a second terminal); anywhere else the process does not start:
    it would come up and then answer 503 to everything that stores a secret.
    """
    if not config.encryption_key and os.path.exists(local_key_file):
        with open(local_key_file) as key_file:
            config = replace(config, encryption_key=key_file.read().strip())
    try:
        SecretBox(config.encryption_key)
    except SecretBoxError as error:
        raise SystemExit(f"hookyard: {error}") from None
    return config


def derived_key(keys: str, purpose: str) -> bytes:
    """Return 32 bytes for one purpose (signing the dashboard's cookie, say), derived from the first
    Fernet key of HOOKYARD_ENCRYPTION_KEY with HKDF, so no second secret needs setting."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    first = base64.urlsafe_b64decode(keys.split(",")[0].strip())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(first)
