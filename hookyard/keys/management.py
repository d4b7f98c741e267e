"""Management keys (`Authorization: Bearer` on /v1): created and shown once, listed by prefix, rotated, revoked.

Used by `flask create-org`, the management API and the dashboard alike. Stored as SHA-256 hashes of 192
random bits; an organization may hold several, so one can be rotated while the others keep working.
"""

from hookyard.core.clock import utcnow
from hookyard.core.credentials import display_prefix, hash_credential, new_credential
from hookyard.core.db import db
from models import ManagementKey, Organization

MANAGEMENT_KEY_PREFIX = "hy_mgmt_"


def create_management_key(organization: Organization, name: str) -> str:
    """Create a management key for the organization and return it (shown once: only its hash is kept)."""
    key = new_credential(MANAGEMENT_KEY_PREFIX)
    ManagementKey.create(
        organization=organization, name=name, key_hash=hash_credential(key), key_prefix=display_prefix(key)
    )
    return key


def live_management_keys(organization: Organization) -> list[ManagementKey]:
    """The organization's management keys that still work, oldest first."""
    return list(
        ManagementKey.select()
        .where((ManagementKey.organization == organization) & ManagementKey.revoked_at.is_null())
        .order_by(ManagementKey.id)
    )


def revoke_management_key(key: ManagementKey) -> None:
    """Stop a management key from working, at once."""
    key.revoked_at = utcnow()
    key.save(only=[ManagementKey.revoked_at])


def rotate_management_key(key: ManagementKey) -> str:
    """Replace a key with a new one of the same name; the old one stops working at once. Return the new key."""
    with db.atomic():
        revoke_management_key(key)
        return create_management_key(key.organization, key.name)
