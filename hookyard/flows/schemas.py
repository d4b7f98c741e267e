"""marshmallow schemas of flows: the management API, the inbound answer, the event log, metrics, playground."""

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates

from schemas import JsonBoolean, UtcDateTime

SOURCES = ("github", "stripe", "custom")


class _ProviderSecret(fields.String):
    """A caller-chosen signing secret (GitHub's or Stripe's), null to remove it."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, validate=validate.Length(min=8, max=256), load_only=True, **kwargs)


class FlowCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    secret = JsonBoolean(
        load_default=False,
        metadata={
            "description": "true: generate a secret; every request must then carry X-Event-Signature (or a provider "
            "signature). On PATCH, true rotates it and false removes it."
        },
    )
    github_secret = _ProviderSecret(metadata={"description": "The secret set on the GitHub webhook."})
    stripe_secret = _ProviderSecret(metadata={"description": "The endpoint's signing secret from Stripe (whsec_...)."})
    rate_limit_per_second = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100_000))
    active = JsonBoolean(load_default=True)

    @validates("github_secret")
    def github_secret_is_usable(self, value, **kwargs):
        self._check_secret(value)

    @validates("stripe_secret")
    def stripe_secret_is_usable(self, value, **kwargs):
        self._check_secret(value)

    @staticmethod
    def _check_secret(value):
        if value is not None and (value != value.strip() or not value.isprintable()):
            raise ValidationError("Must not contain spaces at the ends or control characters.")


class FlowSchema(Schema):
    id = fields.String()
    name = fields.String()
    webhook_id = fields.String()
    webhook_url = fields.String()
    secret = fields.String(
        allow_none=True,
        metadata={
            "description": "Only in the answer that generated it (create, or PATCH with secret: true); null after."
        },
    )
    has_secret = fields.Boolean()
    has_github_secret = fields.Boolean()
    has_stripe_secret = fields.Boolean()
    rate_limit_per_second = fields.Integer()
    active = fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class FlowListSchema(Schema):
    flows = fields.List(fields.Nested(FlowSchema))
    next_cursor = fields.String(allow_none=True)


class FlowEventInSchema(Schema):
    """What a flow accepts: a GitHub or Stripe delivery as they send it, or any JSON object of your own."""

    class Meta:
        unknown = INCLUDE

    event = fields.String(
        metadata={"description": "Your event's name (custom events); GitHub's and Stripe's come from them."}
    )
    data = fields.Raw(metadata={"description": "Custom events: the event's data (else the rest of the body)."})
    timestamp = fields.String(metadata={"description": "Custom events: when it happened, kept as sent."})
    id = fields.String(metadata={"description": "Custom events: a repeat of the same id is a duplicate."})


class FlowAcceptedSchema(Schema):
    id = fields.String(metadata={"description": "fev_..."})
    status = fields.String(metadata={"description": "queued; duplicate for a copy of an event already accepted"})
    event = fields.String()
    duplicate = fields.Boolean(metadata={"description": "Present (true) only for a duplicate."})
    duplicate_of = fields.String(metadata={"description": "The id of the event it duplicates."})


class FlowEventArgsSchema(Schema):
    event = fields.String()
    source = fields.String(validate=validate.OneOf(SOURCES))
    since = UtcDateTime()
    until = UtcDateTime()
    duplicate = fields.Boolean()


class FlowEventSchema(Schema):
    id = fields.String()
    event = fields.String()
    source = fields.String()
    received_at = UtcDateTime()
    processed_at = UtcDateTime()
    latency_ms = fields.Integer()
    verified = fields.Boolean()
    duplicate = fields.Boolean()
    duplicate_of = fields.String(allow_none=True)
    status = fields.String()
    outbound_event_id = fields.String(allow_none=True)
    timestamp = fields.String(
        attribute="sender_timestamp",
        allow_none=True,
        metadata={"description": "The body's `timestamp` (custom senders), as sent."},
    )
    data = fields.Raw()
    data_expired = fields.Boolean(
        metadata={
            "description": "true when retention cleared the event's data (`data` is then null); see /v1/retention."
        }
    )


class FlowEventListSchema(Schema):
    events = fields.List(fields.Nested(FlowEventSchema))
    next_cursor = fields.String(allow_none=True)


class MetricsArgsSchema(Schema):
    window = fields.String(
        load_default="1h",
        validate=validate.Regexp(r"^[1-9][0-9]{0,3}[mhd]$", error="Use a number and a unit: 15m, 1h, 24h, 7d."),
    )


class LatencySchema(Schema):
    p50 = fields.Integer(allow_none=True)
    p95 = fields.Integer(allow_none=True)
    p99 = fields.Integer(allow_none=True)


class SeriesPointSchema(Schema):
    t = UtcDateTime()
    count = fields.Integer()
    errors = fields.Integer()


class FlowMetricsSchema(Schema):
    window = fields.String()
    event_volume = fields.Integer(metadata={"description": "Requests received: accepted plus rejected."})
    accepted = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Rejected requests by status code (400, 401, 413, 415, 429)."},
    )
    failed_deliveries = fields.Integer()
    success_rate = fields.Float(allow_none=True)
    error_rate = fields.Float(allow_none=True)
    latency_ms = fields.Nested(LatencySchema)
    series = fields.List(fields.Nested(SeriesPointSchema))


class PlaygroundSchema(Schema):
    webhookUrl = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    payload = fields.Raw(required=True)
    headers = fields.Dict(
        keys=fields.String(
            validate=validate.Regexp(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$", error="Not a valid header name.")
        ),
        values=fields.String(
            validate=[
                validate.Length(max=8192),
                validate.Regexp(r"^[^\r\n\x00]*$", error="A header value cannot hold a line break or NUL."),
            ]
        ),
        load_default=dict,
        metadata={"description": "Extra request headers, e.g. X-GitHub-Event or Idempotency-Key."},
    )


class PlaygroundResultSchema(Schema):
    status = fields.Integer()
    response = fields.Dict()
    latency_ms = fields.Float()


flow_create_schema = FlowCreateSchema()
flow_schema = FlowSchema()
flow_event_args_schema = FlowEventArgsSchema()
flow_event_schema = FlowEventSchema()
metrics_args_schema = MetricsArgsSchema()
flow_metrics_schema = FlowMetricsSchema()
playground_schema = PlaygroundSchema()
flow_list_schema = FlowListSchema()
flow_accepted_schema = FlowAcceptedSchema()
flow_event_in_schema = FlowEventInSchema()
flow_event_list_schema = FlowEventListSchema()
playground_result_schema = PlaygroundResultSchema()
