"""Signing outbound deliveries: `X-Webhook-Signature` and the Standard Webhooks headers. Pure, no I/O.

`X-Webhook-Signature` is the hex HMAC-SHA256 of the raw body keyed by the secret's UTF-8 bytes.
`webhook-signature` follows the Standard Webhooks spec (signed with the `standardwebhooks` library):
`whsec_` secrets are base64 keys, any other secret is used as its UTF-8 bytes. While a rotated-out
secret is still valid, `webhook-signature` carries one `v1,` signature per secret.
"""

import base64
import binascii
import datetime
import hashlib
import hmac
import secrets

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def generate_secret() -> str:
    """Return a new secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_problem(secret: str) -> str | None:
    """Return why a caller-given secret is unusable, or None."""
    if not 8 <= len(secret) <= 256:
        return "Must be between 8 and 256 characters."
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            return "A whsec_ secret must be base64 after the prefix."
        if len(key) < 16:
            return "A whsec_ secret must hold at least 16 bytes."
    return None


def _standard_webhook(secret: str) -> Webhook:
    return Webhook(secret) if secret.startswith(SECRET_PREFIX) else Webhook(secret.encode())


def hex_signature(secret: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of `body` keyed by the secret's UTF-8 bytes."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_headers(secrets_in_use: list[str], message_id: str, timestamp: int, body: bytes) -> dict:
    """Return the signature headers for one delivery; the first secret is the current one."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    text = body.decode()
    standard = " ".join(_standard_webhook(secret).sign(message_id, moment, text) for secret in secrets_in_use)
    return {
        "X-Webhook-Signature": hex_signature(secrets_in_use[0], body),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard,
    }
