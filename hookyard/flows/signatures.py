"""Verifying inbound signatures on flow requests: X-Event-Signature, GitHub, Stripe. Pure, no I/O.

Every signature is computed over the raw request body and compared in constant time. A header that
is malformed, or that does not verify, raises SignatureError with a sentence saying which; callers
answer it with a 401, never a 500.
"""

import hashlib
import hmac
import time

STRIPE_TOLERANCE = 300  # seconds a Stripe signature stays valid, as Stripe's own libraries check


class SignatureError(Exception):
    """A signature header that is malformed or does not verify."""


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _is_hex(value: str, length: int = 64) -> bool:
    return len(value) == length and all(char in "0123456789abcdefABCDEF" for char in value)


def verify_event_signature(secret: str, body: bytes, header: str) -> None:
    """Check `X-Event-Signature: <hex HMAC-SHA256 of the body>` (a `sha256=` prefix is allowed)."""
    value = header.strip()
    if value.startswith("sha256="):
        value = value[len("sha256=") :]
    if not _is_hex(value):
        raise SignatureError("X-Event-Signature must be the 64-character hex HMAC-SHA256 of the body.")
    if not hmac.compare_digest(value.lower(), _hex_hmac(secret, body)):
        raise SignatureError("X-Event-Signature does not match the body signed with this flow's secret.")


def verify_github(secret: str, body: bytes, header: str) -> None:
    """Check GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`."""
    scheme, _, value = header.strip().partition("=")
    if scheme != "sha256" or not _is_hex(value):
        raise SignatureError("X-Hub-Signature-256 must look like sha256=<64 hex characters>.")
    if not hmac.compare_digest(value.lower(), _hex_hmac(secret, body)):
        raise SignatureError("X-Hub-Signature-256 does not match the body signed with this flow's github_secret.")


def verify_stripe(
    secret: str, body: bytes, header: str, *, now: float | None = None, tolerance: int = STRIPE_TOLERANCE
) -> None:
    """Check `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=...]`: one v1 must match `<t>.<body>`, and t
    must be within `tolerance` seconds of now (both ways: a clock ahead is as suspect as a replay)."""
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise SignatureError("Stripe-Signature has no valid t=<unix time>.")
    if not signatures:
        raise SignatureError("Stripe-Signature has no v1 signature.")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > tolerance:
        raise SignatureError(f"Stripe-Signature is {int(age)} s old; it is accepted for {tolerance} s.")
    expected = _hex_hmac(secret, timestamp.encode() + b"." + body)
    # Compare with every v1 (there are two while a secret is being rolled), without stopping at the first.
    matched = False
    for signature in signatures:
        matched |= hmac.compare_digest(signature.lower(), expected) if _is_hex(signature) else False
    if not matched:
        raise SignatureError("Stripe-Signature does not match the body signed with this flow's stripe_secret.")
