"""Every table, sectioned by capability: columns, indexes and small query methods. No HTTP, no Redis.

The models bind to `hookyard.core.db.db`, pointed at SQLite or Postgres once the configuration is
known. Schema changes go through `migrations/`, never `create_tables` at runtime.
"""

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from hookyard.core.clock import utcnow
from hookyard.core.db import BaseModel, JSONField, db

ENDPOINT_TYPES = ("signal_staging", "flow")


# --- organizations and API keys ------------------------------------------------------------------


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


# --- signal staging ------------------------------------------------------------------------------


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
    received_at = DateTimeField()
    timestamp = DateTimeField(null=True)  # when the sender says it happened (Segment's `timestamp`)
    processed_at = DateTimeField(default=utcnow)

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


# --- mapping -------------------------------------------------------------------------------------


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


# --- outbound webhooks ---------------------------------------------------------------------------


class Endpoint(BaseModel):
    """An outbound webhook subscription: where to deliver which events, signed with which secret."""

    id = CharField(max_length=40, primary_key=True)  # hook_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    url = TextField()
    events = JSONField()
    description = TextField(null=True)
    active = BooleanField(default=True)
    disabled_reason = CharField(max_length=255, null=True)
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
        indexes = ((("organization", "idempotency_key"), True),)


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


# --- activities ----------------------------------------------------------------------------------


class Member(BaseModel):
    id = CharField(max_length=40, primary_key=True)  # mem_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    email = CharField(max_length=320)  # lower-cased
    name = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)
    # Dashboard sign-in: a member with a role and a password hash (argon2) is a dashboard user.
    password_hash = TextField(null=True)
    role = CharField(max_length=16, null=True)  # admin | viewer
    password_changed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("organization", "email"), True),)  # one member per address in an organization


class Project(BaseModel):
    id = CharField(max_length=40, primary_key=True)  # proj_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    name = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)


class IngressUrl(BaseModel):
    """A project's ingress URL (the API's "custom webhook"): its token is the only credential, kept as a hash."""

    id = CharField(max_length=40, primary_key=True)  # cwh_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    project = ForeignKeyField(Project, backref="ingress_urls", on_delete="CASCADE")
    name = CharField(max_length=255)
    created_by = ForeignKeyField(Member, on_delete="RESTRICT")
    token_hash = CharField(max_length=64, unique=True)
    token_prefix = CharField(max_length=24)
    revoked_at = DateTimeField(null=True)
    rotated_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "ingress_webhook"


class Activity(BaseModel):
    id = CharField(max_length=40, primary_key=True)  # act_...; derived from (ingress URL, externalId) when given
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    project = ForeignKeyField(Project, on_delete="CASCADE")
    ingress_url = ForeignKeyField(
        IngressUrl, column_name="webhook_id", object_id_name="ingress_url_id", on_delete="CASCADE"
    )
    member = ForeignKeyField(Member, on_delete="RESTRICT")
    title = CharField(max_length=255)
    description = TextField(null=True)
    start_time = DateTimeField()
    end_time = DateTimeField(null=True)
    trigger = CharField(max_length=255, null=True)
    event = CharField(max_length=255, null=True)
    external_id = CharField(max_length=255, null=True)
    metadata = JSONField(null=True)
    received_at = DateTimeField()  # of the request whose version is stored: a late older one never wins
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            # The same externalId on the same ingress URL is one activity, however many requests race.
            (("ingress_url", "external_id"), True),
            (("organization", "start_time"), False),
        )


# --- flows ---------------------------------------------------------------------------------------


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
    sender_timestamp = CharField(max_length=64, null=True)  # a custom body's `timestamp`, as sent
    outbound_event_id = CharField(max_length=40, null=True)  # the flow.<event> it was published as
    received_at = DateTimeField()
    received_minute = IntegerField()  # minutes since the epoch: the metrics series groups by it on any database
    processed_at = DateTimeField()
    latency_ms = IntegerField()  # receipt to processed

    class Meta:
        indexes = (
            (("flow", "received_at"), False),
            (("flow", "event", "received_at"), False),
            (("flow", "received_minute"), False),
        )


# A sender's delivery id, Stripe event id, Idempotency-Key or body id is accepted once per flow:
# the database decides, so two workers storing copies at once still fan out one.
_ORIGINALS = FlowEvent.duplicate == False  # noqa: E712
FlowEvent.add_index(FlowEvent.index(FlowEvent.flow, FlowEvent.dedupe_key, unique=True, where=_ORIGINALS))


MODELS = BaseModel.__subclasses__()  # every table, in the order defined above
