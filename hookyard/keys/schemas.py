"""marshmallow schemas of API keys: create, update, and the key as listed (its prefix, never the key)."""

from marshmallow import Schema, ValidationError, fields, validate, validates

from hookyard.core.clock import utcnow
from schemas import JsonBoolean, UtcDateTime


class ApiKeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    endpoint_type = fields.String(required=True, validate=validate.OneOf(("signal_staging", "flow")))
    secret = JsonBoolean(load_default=False)
    expires_at = UtcDateTime(load_default=None, allow_none=True)

    @validates("expires_at")
    def validate_expires_at(self, value, **kwargs):
        if value is not None and value <= utcnow():
            raise ValidationError("Must be in the future.")


class ApiKeyUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    active = JsonBoolean()
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


api_key_create_schema = ApiKeyCreateSchema()
api_key_update_schema = ApiKeyUpdateSchema()
api_key_schema = ApiKeySchema()
api_key_created_schema = ApiKeyCreatedSchema()
api_key_list_schema = ApiKeyListSchema()
