"""Outbound webhooks: endpoints, events, deliveries and their attempts, event types.

Import them from `models`, the one import point for every table. Schema changes go through `migrations/`.
"""

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from hookyard.core.clock import utcnow
from hookyard.core.db import BaseModel, JSONField
from hookyard.keys.tables import Organization


class Endpoint(BaseModel):
    """An outbound webhook subscription: where to deliver which events, signed with which secret."""

    id = CharField(max_length=40, primary_key=True)  # hook_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    url = TextField()
    events = JSONField()
    description = TextField(null=True)
    active = BooleanField(default=True)
    disabled_reason = CharField(max_length=255, null=True)
    failing_since = DateTimeField(null=True)  # the first failed attempt since its last success
    secret_encrypted = TextField()
    previous_secret_encrypted = TextField(null=True)  # still signs until previous_secret_expires_at
    previous_secret_expires_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class Event(BaseModel):
    """An outbound event; `body` is its JSON exactly as every delivery sends and signs it."""

    id = CharField(max_length=40, primary_key=True)  # evt_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    type = CharField(max_length=255)
    body = TextField()
    idempotency_key = CharField(max_length=255, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        # A caller's event id is published once, however often it is posted.
        indexes = (
            (("organization", "idempotency_key"), True),
            (("organization", "type", "created_at"), False),  # the overview's newest operational events
            (("organization", "created_at"), False),  # the purge walks expired events
        )


class Delivery(BaseModel):
    """One event to one endpoint; its retry state lives here, so one job can carry many deliveries."""

    id = CharField(max_length=40, primary_key=True)  # del_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    endpoint = ForeignKeyField(Endpoint, backref="deliveries", on_delete="CASCADE")
    event = ForeignKeyField(Event, on_delete="CASCADE")
    status = CharField(max_length=16, default="pending")  # pending | retrying | success | failed
    attempts = IntegerField(default=0)
    max_attempts = IntegerField()
    status_code = IntegerField(null=True)
    error = TextField(null=True)
    next_attempt_at = DateTimeField(null=True)
    lease_until = DateTimeField(null=True)  # a dispatcher is sending it; another may take over after
    delivered_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            # An event reaches an endpoint once, however often fan-out runs.
            (("endpoint", "event"), True),
            # The dispatcher's question: what is due now?
            (("status", "next_attempt_at"), False),
            (("endpoint", "status"), False),
        )


class DeliveryAttempt(BaseModel):
    delivery = ForeignKeyField(Delivery, backref="attempt_log", on_delete="CASCADE")
    number = IntegerField()
    started_at = DateTimeField()
    duration_ms = IntegerField()
    status_code = IntegerField(null=True)
    response_body = TextField(null=True)  # the first 2 KB
    error = TextField(null=True)


class EventType(BaseModel):
    """An organization's own event type, or its changes to a sample one; Hookyard's own live in code."""

    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    name = CharField(max_length=255)
    description = TextField(default="")
    data_schema = JSONField(null=True)  # a JSON Schema the event's `data` must satisfy
    archived = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("organization", "name"), True),)  # a name once per organization, however many race
