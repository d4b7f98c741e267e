"""API keys of the ingestion endpoints: made, changed and deleted here, for the API and the dashboard alike."""

from datetime import datetime

from hookyard.core.credentials import display_prefix, hash_credential, new_credential
from hookyard.keys import auth
from models import ApiKey

KEY_PREFIX = "hy_live_"
SECRET_PREFIX = "hy_secret_"  # noqa: S105 (a prefix, not a secret)
SIGNALS = "signal_staging"


def create_api_key(
    organization, name: str, endpoint_type: str, with_secret: bool, expires_at: datetime | None, secret_box
) -> tuple[ApiKey, str, str | None]:
    """Create a key; return it with the key and the secret in the clear (shown once: only hashes are kept)."""
    key = new_credential(KEY_PREFIX)
    secret = new_credential(SECRET_PREFIX) if with_secret else None
    api_key = ApiKey.create(
        organization=organization,
        name=name,
        endpoint_type=endpoint_type,
        key_hash=hash_credential(key),
        key_prefix=display_prefix(key),
        secret_hash=hash_credential(secret) if secret else None,
        # Sealed too for signal keys: Segment's Actions sign bodies with it (X-Signature, an HMAC).
        secret_encrypted=secret_box().seal(secret) if secret and endpoint_type == SIGNALS else None,
        expires_at=expires_at,
    )
    return api_key, key, secret


def update_api_key(api_key: ApiKey, changes: dict) -> ApiKey:
    """Rename, (de)activate or change the expiry of a key; every process sees it within seconds."""
    for field, value in changes.items():
        setattr(api_key, field, value)
    api_key.save()
    auth.forget(api_key.key_hash)
    return api_key


def delete_api_key(api_key: ApiKey) -> None:
    """Delete a key: requests that use it are refused from now on."""
    api_key.delete_instance()
    auth.forget(api_key.key_hash)
