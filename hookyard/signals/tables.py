"""Signal staging: leads, their identities, signals, bulk imports, the plan limits and signal ids.

Import them from `models`, the one import point for every table. Schema changes go through `migrations/`.
"""

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField

from hookyard.core.clock import utcnow
from hookyard.core.db import BaseModel, JSONField, db
from hookyard.keys.tables import Organization


class IdBlock(BaseModel):
    """Hands out blocks of ids (hi/lo): ids outlive any Redis restart or flush, and cost no round trip each."""

    name = CharField(max_length=32, primary_key=True)
    next_value = BigIntegerField()

    @classmethod
    def allocate(cls, name: str, count: int) -> int:
        """Reserve `count` consecutive ids and return the first; the row lock makes it atomic."""
        with db.atomic():
            cls.update(next_value=cls.next_value + count).where(cls.name == name).execute()
            return cls.get_by_id(name).next_value - count


class RateLimit(BaseModel):
    organization = ForeignKeyField(Organization, unique=True, on_delete="CASCADE")
    raw_signals_per_month = IntegerField(null=True)
    signals_per_second = IntegerField(null=True)
    overages_enabled = BooleanField(default=False)

    @classmethod
    def for_organization(cls, organization_id: int) -> "RateLimit":
        """Return the organization's limits; no row means no limits."""
        found = cls.get_or_none(cls.organization == organization_id)
        return found or cls(organization=organization_id)


class Lead(BaseModel):
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    email = CharField(max_length=320)
    name = CharField(max_length=255, null=True)
    company = CharField(max_length=255, null=True)
    title = CharField(max_length=255, null=True)
    traits = JSONField(default=dict)
    score = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        # One lead per email per organization: concurrent signals for a new email make one lead.
        indexes = ((("organization", "email"), True),)


class Identity(BaseModel):
    """A Segment anonymousId or userId linked to a lead by an identify call."""

    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    kind = CharField(max_length=16)  # "anonymous_id" or "user_id"
    value = CharField(max_length=255)
    lead = ForeignKeyField(Lead, backref="identities", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        # An identity belongs to one lead: the first identify that links it wins.
        indexes = ((("organization", "kind", "value"), True),)


class IdentityAlias(BaseModel):
    """A Segment alias call: `previous_id` and `user_id` name one person, whichever side a lead claims first."""

    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    previous_id = CharField(max_length=255)
    user_id = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "identity_alias"
        indexes = (
            (("organization", "previous_id", "user_id"), True),
            (("organization", "user_id"), False),
        )


class Signal(BaseModel):
    id = BigIntegerField(primary_key=True)  # assigned at receipt from IdBlock, answered in the 202
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    source = CharField(max_length=64)
    event = CharField(max_length=255, null=True)
    email = CharField(max_length=320, null=True)
    anonymous_id = CharField(max_length=255, null=True)
    user_id = CharField(max_length=255, null=True)
    lead = ForeignKeyField(Lead, null=True, backref="signals", on_delete="SET NULL")
    cold_storage = BooleanField(default=False)
    status = CharField(max_length=16)  # processed | duplicate | mapped
    dedupe_key = CharField(max_length=80)
    duplicate_of = BigIntegerField(null=True)
    mapped_signal = CharField(max_length=255, null=True)
    mapping_rule_id = IntegerField(null=True)  # the rule that mapped it (kept if the rule is deleted)
    payload = JSONField(null=True)  # a duplicate keeps no second copy
    payload_purged_at = DateTimeField(null=True)  # when retention cleared the payload (the row stays)
    received_at = DateTimeField()
    timestamp = DateTimeField(null=True)  # when the sender says it happened (Segment's `timestamp`)
    processed_at = DateTimeField(default=utcnow)

    @property
    def payload_expired(self) -> bool:
        """Whether retention cleared the payload (a duplicate's was never kept: that is not expiry)."""
        return self.payload_purged_at is not None

    class Meta:
        indexes = (
            (("organization", "source", "event"), False),
            (("organization", "email"), False),
            (("organization", "lead", "received_at"), False),  # a lead's signals, its last activity
            # The signal queue groups unmapped signals by source and event from this index alone.
            (("organization", "status", "source", "event", "received_at"), False),
            # Rehydration looks up cold signals by identity; the API filters by them.
            (("organization", "anonymous_id"), False),
            (("organization", "user_id"), False),
            (("organization", "received_at"), False),  # counts of a day, time windows
        )


# Dedupe is enforced by the database, not by a read-then-write check: among the signals that are not
# duplicates, a dedupe key appears once per organization, so concurrent copies still make one row.
Signal.add_index(Signal.index(Signal.organization, Signal.dedupe_key, unique=True, where=Signal.duplicate_of.is_null()))


class SignalImport(BaseModel):
    """A bulk import's progress, advanced in the same transaction as the chunk it stores."""

    id = CharField(max_length=40, primary_key=True)
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    status = CharField(max_length=16, default="processing")  # processing | done
    total = IntegerField()
    chunks = IntegerField()
    next_chunk = IntegerField(default=0)
    processed = IntegerField(default=0)
    duplicates = IntegerField(default=0)
    failed = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)
