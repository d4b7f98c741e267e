"""Random credentials and public ids: generated here, stored only as hashes, compared in constant time.

Credentials carry a readable prefix (`hy_mgmt_`, `hy_live_`, ...) so a leaked one is recognisable.
They hold 192 random bits, so a plain SHA-256 is a sufficient one-way store (no slow KDF needed:
there is nothing to brute-force). This module never logs or returns a stored hash to a caller.
"""

import hashlib
import hmac
import os
import secrets
import time

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
