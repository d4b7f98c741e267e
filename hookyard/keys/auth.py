"""Authenticating the API keys that ingestion endpoints carry in their URL (or X-API-Key header).

Keys are looked up by hash and the record is cached in the process for a few seconds, so the hot
path does not touch the database; a change made through the API is seen at once by the process
that made it and within CACHE_SECONDS by the others.
"""

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from hookyard.core.clock import utcnow
from hookyard.core.credentials import credential_matches, hash_credential
from hookyard.core.db import briefly_connected
from hookyard.core.errors import Unauthorized
from models import ApiKey

CACHE_SECONDS = 2.0
ENDPOINT_NAMES = {"signal_staging": "signal staging", "flow": "flow"}


@dataclass(frozen=True)
class KeyRecord:
    id: int
    organization_id: int
    endpoint_type: str
    secret_hash: str | None
    active: bool
    expires_at: datetime | None
    secret_sealed: str | None = None  # to verify an HMAC made with the secret (Segment's X-Signature)


_cache: dict[str, tuple[float, KeyRecord | None]] = {}
_lock = threading.Lock()


def _lookup(key_hash: str) -> KeyRecord | None:
    now = time.monotonic()
    cached = _cache.get(key_hash)
    if cached is not None and cached[0] > now:
        return cached[1]
    with briefly_connected():
        row = ApiKey.get_or_none(ApiKey.key_hash == key_hash)
    record = (
        None
        if row is None
        else KeyRecord(
            row.id,
            row.organization_id,
            row.endpoint_type,
            row.secret_hash,
            row.active,
            row.expires_at,
            row.secret_encrypted,
        )
    )
    with _lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key_hash] = (now + CACHE_SECONDS, record)
    return record


def forget(key_hash: str) -> None:
    """Drop a key from this process's cache after it changed."""
    with _lock:
        _cache.pop(key_hash, None)


def authenticate_api_key(key: str, secret: str | None, endpoint_type: str, signed=None) -> KeyRecord:
    """Return the usable key record for `key`, or raise Unauthorized saying what is wrong.

    A key with a secret needs it, as `secret` (X-Api-Secret), or else `signed`: (X-Signature, the body,
    the secret box) with X-Signature the hex HMAC-SHA1 of the body under the secret, as Segment signs.
    """
    record = _lookup(hash_credential(key)) if key else None
    if record is None:
        raise Unauthorized("The API key is not valid.")
    if not record.active:
        raise Unauthorized("The API key is inactive.")
    if record.expires_at is not None and record.expires_at <= utcnow():
        raise Unauthorized("The API key has expired.")
    if record.endpoint_type != endpoint_type:
        raise Unauthorized(
            f"The API key is for {ENDPOINT_NAMES[record.endpoint_type]} endpoints, not {ENDPOINT_NAMES[endpoint_type]}."
        )
    if record.secret_hash is not None:
        if not secret and signed is not None:
            _verify_signature(record, *signed)
        elif not secret:
            raise Unauthorized("This API key needs its secret in the X-Api-Secret header.")
        elif not credential_matches(secret, record.secret_hash):
            raise Unauthorized("The X-Api-Secret is not valid for this API key.")
    return record


def _verify_signature(record: KeyRecord, signature: str, body: bytes, secret_box) -> None:
    """Check X-Signature, the hex HMAC-SHA1 of the body under the key's secret, in constant time."""
    if record.secret_sealed is None:
        raise Unauthorized("This API key was created before X-Signature was supported: send X-Api-Secret.")
    expected = hmac.new(secret_box.open(record.secret_sealed).encode(), body, hashlib.sha1).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "replace")):
        raise Unauthorized("The X-Signature is not the HMAC-SHA1 of the body under this API key's secret.")
