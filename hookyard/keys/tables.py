"""Organizations and their management and API keys.

Import them from `models`, the one import point for every table. Schema changes go through `migrations/`.
"""

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, TextField

from hookyard.core.clock import utcnow
from hookyard.core.db import BaseModel


class Organization(BaseModel):
    name = CharField(max_length=200)
    management_key_hash = CharField(max_length=64, unique=True, null=True)  # 0.1's one key: now in ManagementKey
    management_key_prefix = CharField(max_length=16, null=True)
    created_at = DateTimeField(default=utcnow)


class ManagementKey(BaseModel):
    """A key for the management API (`Authorization: Bearer`); an organization may hold several."""

    organization = ForeignKeyField(Organization, backref="management_keys", on_delete="CASCADE")
    name = CharField(max_length=200)
    key_hash = CharField(max_length=64, unique=True)
    key_prefix = CharField(max_length=16)
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)

    @classmethod
    def organization_of(cls, key_hash: str):
        """Return the organization a live management key's hash belongs to, or None."""
        key = cls.get_or_none((cls.key_hash == key_hash) & cls.revoked_at.is_null())
        return key.organization if key is not None else None


class ApiKey(BaseModel):
    organization = ForeignKeyField(Organization, backref="api_keys", on_delete="CASCADE")
    name = CharField(max_length=200)
    endpoint_type = CharField(max_length=32)
    key_hash = CharField(max_length=64, unique=True)
    key_prefix = CharField(max_length=16)
    secret_hash = CharField(max_length=64, null=True)
    secret_encrypted = TextField(null=True)  # sealed, to verify HMACs made with it (Segment's X-Signature)
    active = BooleanField(default=True)
    expires_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    @property
    def has_secret(self) -> bool:
        return self.secret_hash is not None
