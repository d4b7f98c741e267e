"""What running Hookyard keeps about itself: dead letters.

Import them from `models`, the one import point for every table. Schema changes go through `migrations/`.
"""

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

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
