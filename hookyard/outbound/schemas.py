"""marshmallow schemas of outbound webhooks: endpoints, event types, events, deliveries, replay."""

from marshmallow import Schema, ValidationError, fields, validate

from hookyard.outbound.event_types import kind_of, name_problem
from schemas import JsonBoolean, UtcDateTime


class WebhookCreateSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    events = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=100))
    secret = fields.String(load_default=None)
    active = JsonBoolean(load_default=True)
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class WebhookUpdateSchema(Schema):
    url = fields.String(validate=validate.Length(min=1, max=2048))
    events = fields.List(fields.String(), validate=validate.Length(min=1, max=100))
    active = JsonBoolean()
    description = fields.String(allow_none=True, validate=validate.Length(max=1000))


class WebhookSchema(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String(allow_none=True)
    active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    failing_since = UtcDateTime(
        allow_none=True, metadata={"description": "The first failed attempt since the last success; null when healthy."}
    )
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


def _check_name(name: str) -> None:
    problem = name_problem(name)
    if problem:
        raise ValidationError(problem)


SCHEMA_HELP = "A JSON Schema (draft 4 to 2020-12; 2020-12 without `$schema`) that `data` must satisfy, or null."


class EventTypeCreateSchema(Schema):
    name = fields.String(required=True, validate=_check_name)
    description = fields.String(load_default="", validate=validate.Length(max=1000))
    schema = fields.Dict(load_default=None, allow_none=True, metadata={"description": SCHEMA_HELP})
    archived = JsonBoolean(load_default=False)


class EventTypeUpdateSchema(Schema):
    name = fields.String(metadata={"description": "Names never change: only the current one is accepted."})
    description = fields.String(validate=validate.Length(max=1000))
    schema = fields.Dict(allow_none=True, metadata={"description": SCHEMA_HELP})
    archived = JsonBoolean()


class EventTypeSchema(Schema):
    name = fields.String()
    description = fields.String()
    schema = fields.Dict(attribute="data_schema", allow_none=True)
    archived = fields.Boolean()
    kind = fields.Function(
        lambda event_type: kind_of(event_type.name),
        metadata={"description": "hookyard (Hookyard publishes it: read-only), sample (built in) or custom."},
    )
    created_at = UtcDateTime(allow_none=True, metadata={"description": "null for a built-in type never changed."})
    updated_at = UtcDateTime(allow_none=True)


class EventTypeFilterSchema(Schema):
    include_archived = fields.Boolean(load_default=False)


class EventTypeListSchema(Schema):
    event_types = fields.List(fields.Nested(EventTypeSchema))
    next_cursor = fields.String(allow_none=True)


class EventCreateSchema(Schema):
    type = fields.String(required=True, validate=validate.Length(min=1, max=255))
    data = fields.Dict(required=True)
    id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Your id for the event: posting it again publishes nothing new."},
    )


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


webhook_create_schema = WebhookCreateSchema()
webhook_update_schema = WebhookUpdateSchema()
webhook_schema = WebhookSchema()
event_create_schema = EventCreateSchema()
delivery_schema = DeliverySchema()
delivery_detail_schema = DeliveryDetailSchema()
delivery_filter_schema = DeliveryFilterSchema()
replay_schema = ReplaySchema()
webhook_created_schema = WebhookCreatedSchema()
webhook_list_schema = WebhookListSchema()
webhook_secret_schema = WebhookSecretSchema()
event_type_list_schema = EventTypeListSchema()
event_type_schema = EventTypeSchema()
event_type_create_schema = EventTypeCreateSchema()
event_type_update_schema = EventTypeUpdateSchema()
event_type_filter_schema = EventTypeFilterSchema()
event_accepted_schema = EventAcceptedSchema()
delivery_list_schema = DeliveryListSchema()
test_sent_schema = TestSentSchema()
replay_accepted_schema = ReplayAcceptedSchema()
