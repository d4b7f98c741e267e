"""`/v1/retention` (management API): how long the organization keeps payloads, delivery history and activities."""

from flask import Blueprint, g
from marshmallow import Schema, fields, validate

from hookyard.core.config import MAX_RETENTION_DAYS
from hookyard.core.http import authenticate_management, current_config, load_body
from hookyard.core.openapi import documented
from hookyard.ops import retention
from schemas import UtcDateTime

bp = Blueprint("retention", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)

TAGS = ("retention",)
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


@bp.get("/retention")
@documented(responses={200: retention_schema}, tags=TAGS)
def get_retention():
    """Show how long each kind of data is kept (null: for ever), the environment's defaults, and which are the
    organization's own."""
    return retention_schema.dump(retention.describe(g.organization.id, current_config()))


@bp.put("/retention")
@documented(body=retention_in_schema, responses={200: retention_schema}, tags=TAGS)
def put_retention():
    """Replace the organization's retention: each field given (days, or null for ever) becomes its own, each field
    left out follows the environment's default; the next purge applies it."""
    retention.set_policy(g.organization.id, load_body(retention_in_schema))
    return retention_schema.dump(retention.describe(g.organization.id, current_config()))
