"""Mapping rules.

Import them from `models`, the one import point for every table. Schema changes go through `migrations/`.
"""

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField

from hookyard.core.clock import utcnow
from hookyard.core.db import BaseModel, JSONField
from hookyard.keys.tables import Organization


class MappingRule(BaseModel):
    """Turns matching raw signals into a named signal on a lead; the first active rule by priority wins."""

    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    name = CharField(max_length=255)
    source = CharField(max_length=64, null=True)  # null: any source
    event = CharField(max_length=255, null=True)  # null: any event
    conditions = JSONField(default=list)
    field_map = JSONField(default=dict)
    signal_name = CharField(max_length=255)
    score = IntegerField(default=0)
    priority = IntegerField(default=0)  # higher first; ties: older rule first
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("organization", "active", "priority"), False),)
