"""marshmallow schemas for every payload in and out. Shapes only: no database, no Redis.

This module holds the shared field types and the schemas of the management API, signal staging and
outbound webhooks; each later capability keeps its own beside it (`activity_schemas.py`, ...).
"""

import datetime

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates

from hookyard.core.clock import utcnow


class UtcDateTime(fields.DateTime):
    """An ISO 8601 time in UTC with a `Z`, stored as a naive UTC datetime."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
        return parsed


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "A snake_case error code."})
    message = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(),
                         metadata={"description": "Field name to messages, for validation errors."})


class ListArgsSchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None)


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())


class OrganizationCreatedSchema(Schema):
    organization_id = fields.Integer()
    management_key = fields.String()


class ApiKeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    endpoint_type = fields.String(required=True, validate=validate.OneOf(("signal_staging", "flow")))
    secret = fields.Boolean(load_default=False)
    expires_at = UtcDateTime(load_default=None, allow_none=True)

    @validates("expires_at")
    def validate_expires_at(self, value, **kwargs):
        if value is not None and value <= utcnow():
            raise ValidationError("Must be in the future.")


class ApiKeyUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    active = fields.Boolean()
    expires_at = UtcDateTime(allow_none=True)


class ApiKeySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    endpoint_type = fields.String()
    key_prefix = fields.String(metadata={"description": "The first characters of the key, to recognise it."})
    has_secret = fields.Boolean()
    active = fields.Boolean()
    expires_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class ApiKeyCreatedSchema(ApiKeySchema):
    key = fields.String(metadata={"description": "The key itself; shown only in this answer."})
    secret = fields.String(allow_none=True, metadata={"description": "Send as X-Api-Secret; shown only here."})


class ApiKeyListSchema(Schema):
    api_keys = fields.List(fields.Nested(ApiKeySchema))
    next_cursor = fields.String(allow_none=True)


class Identifier(fields.Field):
    """A Segment anonymousId/userId/messageId: a string or a number, at most 255 characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError("Must be a string or a number.")
        if len(str(value)) > 255:
            raise ValidationError("Must be at most 255 characters.")
        return value


class SignalInSchema(Schema):
    """A signal as it arrives: any JSON object; the fields Hookyard reads must have the right type."""

    class Meta:
        unknown = INCLUDE

    email = fields.Email(allow_none=True)
    event = fields.String(allow_none=True, validate=validate.Length(max=255))
    type = fields.String(allow_none=True)
    messageId = Identifier(allow_none=True)
    anonymousId = Identifier(allow_none=True)
    userId = Identifier(allow_none=True)
    traits = fields.Dict(allow_none=True)
    properties = fields.Dict(allow_none=True)
    context = fields.Dict(allow_none=True)


class SignalAcceptedSchema(Schema):
    id = fields.Integer()
    message = fields.String()
    source = fields.String()
    cold_storage = fields.Boolean()


class BatchRowSchema(Schema):
    index = fields.Integer()
    id = fields.Integer()
    source = fields.String()
    cold_storage = fields.Boolean()
    error = fields.Nested(ErrorSchema)


class BatchAcceptedSchema(Schema):
    message = fields.String()
    accepted = fields.Integer()
    rejected = fields.Integer()
    signals = fields.List(fields.Nested(BatchRowSchema))
    import_id = fields.String(metadata={"description": "Bulk only: follow progress at /v1/imports/<id>."})


class SignalBatchInSchema(Schema):
    signals = fields.List(fields.Dict(), required=True)


class SignalSchema(Schema):
    id = fields.Integer()
    source = fields.String()
    event = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    anonymous_id = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    lead_id = fields.Integer(allow_none=True)
    cold_storage = fields.Boolean()
    status = fields.String()
    mapped_signal = fields.String(allow_none=True)
    payload = fields.Raw()
    received_at = UtcDateTime()
    processed_at = UtcDateTime()


class DuplicateSignalSchema(Schema):
    id = fields.Integer()
    status = fields.Constant("duplicate")
    duplicate_of = fields.Integer()


class SignalFilterSchema(Schema):
    status = fields.String(validate=validate.OneOf(("processed", "duplicate", "mapped")))
    source = fields.String()
    event = fields.String()
    email = fields.String()
    anonymous_id = fields.String()
    lead_id = fields.Integer()
    cold_storage = fields.Boolean()


class SignalListSchema(Schema):
    signals = fields.List(fields.Nested(SignalSchema))
    next_cursor = fields.String(allow_none=True)


class LeadSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    traits = fields.Dict()
    score = fields.Integer()
    signal_count = fields.Integer()
    anonymous_ids = fields.List(fields.String())
    first_seen = UtcDateTime()
    last_seen = UtcDateTime()


class LeadFilterSchema(Schema):
    email = fields.String()


class LeadListSchema(Schema):
    leads = fields.List(fields.Nested(LeadSchema))
    next_cursor = fields.String(allow_none=True)


class UsageSchema(Schema):
    period = fields.String()
    raw_signals = fields.Integer()
    limit = fields.Integer(allow_none=True)
    overages_enabled = fields.Boolean()
    overage = fields.Integer()


class RateLimitSchema(Schema):
    raw_signals_per_month = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))
    signals_per_second = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    overages_enabled = fields.Boolean(required=True)


class ImportSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": "queued, processing or done"})
    total = fields.Integer()
    processed = fields.Integer()
    duplicates = fields.Integer()
    failed = fields.Integer()
    created_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class WebhookCreateSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    events = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=100))
    secret = fields.String(load_default=None)
    active = fields.Boolean(load_default=True)
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class WebhookUpdateSchema(Schema):
    url = fields.String(validate=validate.Length(min=1, max=2048))
    events = fields.List(fields.String(), validate=validate.Length(min=1, max=100))
    active = fields.Boolean()
    description = fields.String(allow_none=True, validate=validate.Length(max=1000))


class WebhookSchema(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String(allow_none=True)
    active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "The signing secret; read it again at /secret."})


class WebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema))
    next_cursor = fields.String(allow_none=True)


class WebhookSecretSchema(Schema):
    secret = fields.String()
    previous_secret_expires_at = UtcDateTime(allow_none=True)


class EventTypeSchema(Schema):
    name = fields.String()
    description = fields.String()


class EventTypeListSchema(Schema):
    event_types = fields.List(fields.Nested(EventTypeSchema))


class EventCreateSchema(Schema):
    type = fields.String(required=True, validate=validate.Length(min=1, max=255))
    data = fields.Dict(required=True)
    id = fields.String(load_default=None, validate=validate.Length(min=1, max=255),
                       metadata={"description": "Your id for the event: posting it again publishes nothing new."})


class EventAcceptedSchema(Schema):
    id = fields.String()
    type = fields.String()
    created_at = fields.String()


class DeliverySchema(Schema):
    id = fields.String()
    event_id = fields.String()
    endpoint_id = fields.String()
    status = fields.String()
    status_code = fields.Integer(allow_none=True)
    attempts = fields.Integer()
    delivered_at = UtcDateTime(allow_none=True)
    next_attempt_at = UtcDateTime(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = UtcDateTime()


class AttemptSchema(Schema):
    number = fields.Integer()
    started_at = UtcDateTime()
    duration_ms = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    response = fields.String(attribute="response_body", allow_none=True)
    error = fields.String(allow_none=True)


class DeliveryDetailSchema(DeliverySchema):
    attempt_log = fields.List(fields.Nested(AttemptSchema), metadata={"description": "Every attempt, oldest first."})


class DeliveryFilterSchema(Schema):
    status = fields.String(validate=validate.OneOf(("pending", "retrying", "success", "failed")))


class DeliveryListSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema))
    next_cursor = fields.String(allow_none=True)


class TestSentSchema(Schema):
    event_id = fields.String()
    delivery_id = fields.String()


class ReplaySchema(Schema):
    since = UtcDateTime(required=True)
    until = UtcDateTime(load_default=None, allow_none=True)
    status = fields.String(load_default="failed", validate=validate.OneOf(("failed", "success", "retrying")))


class ReplayAcceptedSchema(Schema):
    status = fields.String()
    matching = fields.Integer()


error_schema = ErrorSchema()
list_args_schema = ListArgsSchema()
api_key_create_schema = ApiKeyCreateSchema()
api_key_update_schema = ApiKeyUpdateSchema()
api_key_schema = ApiKeySchema()
api_key_created_schema = ApiKeyCreatedSchema()
signal_in_schema = SignalInSchema()
signal_schema = SignalSchema()
duplicate_signal_schema = DuplicateSignalSchema()
signal_filter_schema = SignalFilterSchema()
lead_schema = LeadSchema()
lead_filter_schema = LeadFilterSchema()
usage_schema = UsageSchema()
rate_limit_schema = RateLimitSchema()
import_schema = ImportSchema()
webhook_create_schema = WebhookCreateSchema()
webhook_update_schema = WebhookUpdateSchema()
webhook_schema = WebhookSchema()
event_create_schema = EventCreateSchema()
delivery_schema = DeliverySchema()
delivery_detail_schema = DeliveryDetailSchema()
delivery_filter_schema = DeliveryFilterSchema()
replay_schema = ReplaySchema()
