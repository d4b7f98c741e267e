"""marshmallow schemas for every payload in and out. Shapes only: no database, no Redis."""

import datetime

from marshmallow import Schema, ValidationError, fields, validate, validates

from models import utcnow


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


error_schema = ErrorSchema()
list_args_schema = ListArgsSchema()
api_key_create_schema = ApiKeyCreateSchema()
api_key_update_schema = ApiKeyUpdateSchema()
api_key_schema = ApiKeySchema()
api_key_created_schema = ApiKeyCreatedSchema()
