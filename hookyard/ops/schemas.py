"""The operations API's wire vocabulary: dead letters and retention."""

from marshmallow import Schema, fields, validate

from hookyard.core.config import MAX_RETENTION_DAYS
from hookyard.ops.dead_letters import KINDS
from schemas import UtcDateTime

# --- dead letters ----------------------------------------------------------------------------------


class DeadLetterSchema(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "signal or flow_event"})
    item_id = fields.String(allow_none=True, metadata={"description": "The signal's or flow event's id."})
    item = fields.Raw(metadata={"description": "What the worker could not store: the buffer entry, parsed."})
    error = fields.String(metadata={"description": "Why storing it failed, even on its own."})
    failed_at = UtcDateTime()


class DeadLetterListSchema(Schema):
    dead_letters = fields.List(fields.Nested(DeadLetterSchema), metadata={"description": "Newest first."})
    next_cursor = fields.String(allow_none=True)


class DeadLetterFilterSchema(Schema):
    kind = fields.String(validate=validate.OneOf(KINDS))


class RetriedSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": "`queued`: back in its buffer, for the worker to store again."})


dead_letter_schema = DeadLetterSchema()
dead_letter_list_schema = DeadLetterListSchema()
dead_letter_filter_schema = DeadLetterFilterSchema()
retried_schema = RetriedSchema()


# --- retention -------------------------------------------------------------------------------------

DESCRIPTIONS = {
    "signal_payload_days": "Days a signal keeps its payload; then the payload is cleared and the signal row, its lead "
    "link and mapped name stay (read back as `payload: null, payload_expired: true`).",
    "flow_event_payload_days": "Days a flow event keeps its `data`; then it is cleared and the event stays counted.",
    "delivery_history_days": "Days an outbound event is kept with its deliveries and their attempts (an event whose "
    "deliveries are still being sent is kept until they finish).",
    "activity_days": "Days an activity is kept after it was last received.",
}


def _days(name: str, **options) -> fields.Integer:
    return fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_RETENTION_DAYS),
        metadata={"description": DESCRIPTIONS[name] + " null: kept for ever."},
        **options,
    )


class RetentionInSchema(Schema):
    """A field given sets the organization's own value (days, or null for ever); a field left out follows the
    environment's default."""

    signal_payload_days = _days("signal_payload_days")
    flow_event_payload_days = _days("flow_event_payload_days")
    delivery_history_days = _days("delivery_history_days")
    activity_days = _days("activity_days")


class RetentionDaysSchema(Schema):
    signal_payload_days = fields.Integer(allow_none=True)
    flow_event_payload_days = fields.Integer(allow_none=True)
    delivery_history_days = fields.Integer(allow_none=True)
    activity_days = fields.Integer(allow_none=True)


def _source() -> fields.String:
    return fields.String(validate=validate.OneOf(("default", "organization")))


class RetentionSourcesSchema(Schema):
    signal_payload_days = _source()
    flow_event_payload_days = _source()
    delivery_history_days = _source()
    activity_days = _source()


class RetentionSchema(Schema):
    signal_payload_days = _days("signal_payload_days")
    flow_event_payload_days = _days("flow_event_payload_days")
    delivery_history_days = _days("delivery_history_days")
    activity_days = _days("activity_days")
    defaults = fields.Nested(
        RetentionDaysSchema, metadata={"description": "The environment's defaults (RETENTION_*); null: for ever."}
    )
    sources = fields.Nested(
        RetentionSourcesSchema,
        metadata={"description": "Where each value in force comes from: the default or the organization's own."},
    )
    updated_at = UtcDateTime(
        allow_none=True, metadata={"description": "When the organization last set its retention; null: never."}
    )


retention_in_schema = RetentionInSchema()
retention_schema = RetentionSchema()
