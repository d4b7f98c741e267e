"""marshmallow schemas of signal staging: signals in (single, batch, bulk), signals, leads, usage, limits, imports."""

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from schemas import MAX_BIGINT, MAX_INT, ErrorSchema, JsonBoolean, UtcDateTime


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
    payload_expired = fields.Boolean(
        metadata={"description": "true when retention cleared the payload (`payload` is then null); see /v1/retention."}
    )
    timestamp = UtcDateTime(
        attribute="happened_at",
        metadata={"description": "When the sender says it happened (Segment's timestamp), else received_at."},
    )
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
    lead_id = fields.Integer(validate=validate.Range(min=-MAX_BIGINT, max=MAX_BIGINT))
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
    user_ids = fields.List(fields.String())
    first_seen = UtcDateTime(metadata={"description": "The earliest of its signals' timestamps."})
    last_seen = UtcDateTime(metadata={"description": "The latest of its signals' timestamps."})


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
    raw_signals_per_month = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0, max=MAX_INT))
    signals_per_second = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1, max=MAX_INT))
    overages_enabled = JsonBoolean(required=True)


class ImportFailureSchema(Schema):
    id = fields.Integer()
    error = fields.String()


class ImportSummarySchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": "queued, processing or done"})
    total = fields.Integer()
    processed = fields.Integer()
    duplicates = fields.Integer()
    failed = fields.Integer(metadata={"description": "Rows refused in the request, and rows set aside in storing."})
    created_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class ImportSchema(ImportSummarySchema):
    errors = fields.List(
        fields.Nested(ImportFailureSchema),
        metadata={"description": "The rows set aside in storing: the signal id and why (kept 30 days)."},
    )


signal_in_schema = SignalInSchema()
signal_schema = SignalSchema()
duplicate_signal_schema = DuplicateSignalSchema()
signal_filter_schema = SignalFilterSchema()
lead_schema = LeadSchema()
lead_filter_schema = LeadFilterSchema()
usage_schema = UsageSchema()
rate_limit_schema = RateLimitSchema()
import_schema = ImportSchema()


class ImportListSchema(Schema):
    imports = fields.List(
        fields.Nested(ImportSummarySchema),
        metadata={"description": "Newest first; a row's set-aside rows are at GET /v1/imports/<id>."},
    )
    next_cursor = fields.String(allow_none=True)


import_list_schema = ImportListSchema()
signal_accepted_schema = SignalAcceptedSchema()
batch_accepted_schema = BatchAcceptedSchema()
signal_batch_in_schema = SignalBatchInSchema()
signal_list_schema = SignalListSchema()
lead_list_schema = LeadListSchema()


class SegmentCallInSchema(Schema):
    """A call of Segment's Tracking API (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(validate=validate.OneOf(("track", "identify", "page", "screen", "group", "alias")))
    anonymousId = fields.String()
    userId = fields.String()
    messageId = fields.String()
    event = fields.String()
    properties = fields.Dict()
    traits = fields.Dict()
    context = fields.Dict()
    timestamp = fields.String(metadata={"description": "ISO 8601: when it happened; kept as the signal's time."})
    writeKey = fields.String(metadata={"description": "The write key, when not sent as Basic auth."})


class SegmentBatchInSchema(Schema):
    class Meta:
        unknown = INCLUDE

    batch = fields.List(fields.Nested(SegmentCallInSchema), required=True)
    context = fields.Dict(metadata={"description": "Applies to every call of the batch."})
    writeKey = fields.String()
    sentAt = fields.String()


class SegmentAcceptedSchema(Schema):
    success = fields.Boolean(metadata={"description": "Always true in a 200, as Segment answers."})
    accepted = fields.Integer()
    rejected = fields.List(fields.Nested(BatchRowSchema), metadata={"description": "Calls refused, by index."})


segment_call_in_schema = SegmentCallInSchema()
segment_batch_in_schema = SegmentBatchInSchema()
segment_accepted_schema = SegmentAcceptedSchema()
