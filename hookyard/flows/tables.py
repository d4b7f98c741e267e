"""Flows and their event logs.

Import them from `models`, the one import point for every table. Schema changes go through `migrations/`.
"""

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from hookyard.core.clock import utcnow
from hookyard.core.db import BaseModel, JSONField
from hookyard.keys.tables import Organization


class Flow(BaseModel):
    """An inbound URL (`/webhooks/<webhook_id>`) for GitHub, Stripe or a custom sender, fanned out as flow.<event>."""

    id = CharField(max_length=40, primary_key=True)  # flow_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    name = CharField(max_length=255)
    webhook_id = CharField(max_length=64, unique=True)  # wh_... in the URL: unguessable, but not the credential
    # Read back to verify signatures, so sealed (Fernet), not hashed.
    secret_encrypted = TextField(null=True)
    github_secret_encrypted = TextField(null=True)
    stripe_secret_encrypted = TextField(null=True)
    rate_limit_per_second = IntegerField(default=100)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class FlowEvent(BaseModel):
    """One accepted request to a flow, as its event log shows it."""

    id = CharField(max_length=40, primary_key=True)  # fev_..., fixed by the request that accepted it
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    flow = ForeignKeyField(Flow, on_delete="CASCADE")
    event = CharField(max_length=255)
    source = CharField(max_length=16)  # github | stripe | custom
    verified = BooleanField()  # a signature over the body verified (not just an API key)
    duplicate = BooleanField(default=False)
    duplicate_of = CharField(max_length=40, null=True)
    dedupe_key = CharField(max_length=64, null=True)
    status = CharField(max_length=16)  # processed | duplicate
    data = JSONField(null=True)
    data_purged_at = DateTimeField(null=True)  # when retention cleared `data` (the row stays: charts count it)
    sender_timestamp = CharField(max_length=64, null=True)  # a custom body's `timestamp`, as sent
    outbound_event_id = CharField(max_length=40, null=True)  # the flow.<event> it was published as
    received_at = DateTimeField()
    received_minute = IntegerField()  # minutes since the epoch: the metrics series groups by it on any database
    processed_at = DateTimeField()
    latency_ms = IntegerField()  # receipt to processed

    @property
    def data_expired(self) -> bool:
        """Whether retention cleared `data` (a duplicate's was never kept: that is not expiry)."""
        return self.data_purged_at is not None

    class Meta:
        indexes = (
            (("flow", "received_at"), False),
            (("flow", "event", "received_at"), False),
            (("flow", "received_minute"), False),
            (("organization", "received_at"), False),  # the purge walks an organization's flow events by time
        )


# A sender's delivery id, Stripe event id, Idempotency-Key or body id is accepted once per flow:
# the database decides, so two workers storing copies at once still fan out one.
_ORIGINALS = FlowEvent.duplicate == False  # noqa: E712
FlowEvent.add_index(FlowEvent.index(FlowEvent.flow, FlowEvent.dedupe_key, unique=True, where=_ORIGINALS))
