"""The shared wire vocabulary: field types and shapes every capability's schemas and answers use.

Each capability keeps its own schemas beside its views (`hookyard/<capability>/schemas.py`). Shapes
only: no database, no Redis.
"""

import datetime

from marshmallow import Schema, ValidationError, fields, validate

MAX_BIGINT = 2**63 - 1  # the largest id a BIGINT column holds
MAX_INT = 2**31 - 1  # the largest value an INTEGER column holds on Postgres


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
            try:
                parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
            except OverflowError:
                raise ValidationError("In UTC this time falls outside the years 1 to 9999.") from None
        return parsed


class JsonBoolean(fields.Boolean):
    """A boolean in a JSON body: `true` or `false` only, not "true", 1 or "yes" (query strings use Boolean)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false (a JSON boolean).")
        return value


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "A snake_case error code."})
    message = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "Field name to messages, for validation errors."},
    )


class ListArgsSchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None)


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())


error_schema = ErrorSchema()
list_args_schema = ListArgsSchema()
health_schema = HealthSchema()
