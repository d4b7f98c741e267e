"""What running Hookyard keeps about itself: dead letters, and how long each organization keeps its data.

Import them from `models`, the one import point for every table. Schema changes go through `migrations/`.
"""

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from hookyard.core.clock import utcnow
from hookyard.core.db import BaseModel
from hookyard.keys.tables import Organization


class DeadLetter(BaseModel):
    """A signal or flow event the worker could not store, even on its own, kept to be retried or deleted.

    The worker sets it aside in Redis first (that needs no database); a sweep moves it here, where it is
    durable, listed per organization and retried through the API. Its id is derived from the entry, so a
    sweep that dies after inserting and before trimming the Redis list inserts nothing twice.
    """

    id = CharField(max_length=40, primary_key=True)  # dlq_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    kind = CharField(max_length=16)  # signal | flow_event
    item_id = CharField(max_length=40, null=True)  # the signal's or flow event's id, when the entry names it
    item = TextField()  # the buffer entry, as the worker claimed it
    error = TextField()
    failed_at = DateTimeField()  # when the worker set it aside
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "dead_letter"
        indexes = ((("organization", "failed_at"), False),)  # newest first, per organization


class RetentionPolicy(BaseModel):
    """How long an organization keeps each kind of data, where it differs from the environment's defaults.

    A day field that is null follows its RETENTION_* default; 0 keeps that data for ever. The purge also
    notes how far it has cleared payloads (everything received before that time), so each run starts where
    the last one stopped instead of walking rows whose payload is already gone.
    """

    organization = ForeignKeyField(Organization, unique=True, on_delete="CASCADE")
    signal_payload_days = IntegerField(null=True)
    flow_event_payload_days = IntegerField(null=True)
    delivery_history_days = IntegerField(null=True)
    activity_days = IntegerField(null=True)
    updated_at = DateTimeField(null=True)  # when the organization last set it; null: never (the purge made the row)
    signal_payloads_cleared_before = DateTimeField(null=True)
    flow_event_payloads_cleared_before = DateTimeField(null=True)

    class Meta:
        table_name = "retention_policy"
