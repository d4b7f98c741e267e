"""marshmallow schemas of activity ingress: members, projects, custom webhooks, Activities in and out."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas import UtcDateTime

# --- activity ingress ----------------------------------------------------------------------------


class MemberCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))


class MemberSchema(Schema):
    id = fields.String()
    email = fields.String()
    name = fields.String()
    created_at = UtcDateTime()


class MemberListSchema(Schema):
    members = fields.List(fields.Nested(MemberSchema))
    next_cursor = fields.String(allow_none=True)


class ProjectCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))


class ProjectSchema(Schema):
    id = fields.String()
    name = fields.String()
    created_at = UtcDateTime()


class ProjectListSchema(Schema):
    projects = fields.List(fields.Nested(ProjectSchema))
    next_cursor = fields.String(allow_none=True)


class IngressWebhookCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    created_by = fields.Email(required=True, metadata={"description": "The email of a member of the organization."})


class IngressWebhookSchema(Schema):
    id = fields.String()
    name = fields.String()
    project_id = fields.String(attribute="project_id")
    created_by = fields.String(attribute="created_by.email")
    token_prefix = fields.String(metadata={"description": "The start of the URL's token, to recognise it."})
    active = fields.Function(lambda webhook: webhook.revoked_at is None)
    revoked_at = UtcDateTime(allow_none=True)
    rotated_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class IngressWebhookCreatedSchema(IngressWebhookSchema):
    url = fields.String(metadata={"description": "POST activities here; the URL is the credential, shown only now."})


class IngressWebhookFilterSchema(Schema):
    include_revoked = fields.Boolean(
        load_default=False, metadata={"description": "true: list deleted (revoked) webhooks too, for an audit."}
    )


class IngressWebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(IngressWebhookSchema))
    next_cursor = fields.String(allow_none=True)


class ActivityInSchema(Schema):
    """An Activity as a tool posts it; a field not listed here is refused by name."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=255))
    startTime = UtcDateTime(required=True, metadata={"description": "ISO 8601, e.g. 2024-03-15T14:30:00Z."})
    description = fields.String(allow_none=True, validate=validate.Length(max=65535))
    endTime = UtcDateTime(allow_none=True)
    trigger = fields.String(allow_none=True, validate=validate.Length(max=255))
    event = fields.String(allow_none=True, validate=validate.Length(max=255))
    memberEmail = fields.Email(
        allow_none=True,
        validate=validate.Length(max=320),
        metadata={"description": "A member of the organization; default: the webhook creator."},
    )
    externalId = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Your id: posting it again updates the same activity."},
    )
    metadata = fields.Dict(allow_none=True)

    @validates_schema
    def end_not_before_start(self, data, **kwargs):
        if data.get("endTime") is not None and data["endTime"] < data["startTime"]:
            raise ValidationError("Must not be before startTime.", field_name="endTime")


class ActivityAcceptedSchema(Schema):
    id = fields.String()
    message = fields.String()


class ActivitySchema(Schema):
    id = fields.String()
    projectId = fields.String(attribute="project_id")
    webhookId = fields.String(attribute="ingress_url_id")
    title = fields.String()
    description = fields.String(allow_none=True)
    startTime = UtcDateTime(attribute="start_time")
    endTime = UtcDateTime(attribute="end_time", allow_none=True)
    trigger = fields.String(allow_none=True)
    event = fields.String(allow_none=True)
    memberEmail = fields.String(attribute="member.email")
    externalId = fields.String(attribute="external_id", allow_none=True)
    metadata = fields.Dict(allow_none=True)
    createdAt = UtcDateTime(attribute="created_at")
    updatedAt = UtcDateTime(attribute="updated_at")


class ActivityFilterSchema(Schema):
    project_id = fields.String()
    member_email = fields.Email()
    since = UtcDateTime(metadata={"description": "Activities starting at or after this time."})
    until = UtcDateTime(metadata={"description": "Activities starting before this time."})


class ActivityListSchema(Schema):
    activities = fields.List(fields.Nested(ActivitySchema))
    next_cursor = fields.String(allow_none=True)


member_create_schema = MemberCreateSchema()
member_schema = MemberSchema()
project_create_schema = ProjectCreateSchema()
project_schema = ProjectSchema()
ingress_webhook_create_schema = IngressWebhookCreateSchema()
ingress_webhook_schema = IngressWebhookSchema()
activity_in_schema = ActivityInSchema()
activity_schema = ActivitySchema()
activity_filter_schema = ActivityFilterSchema()
member_list_schema = MemberListSchema()
project_list_schema = ProjectListSchema()
ingress_webhook_created_schema = IngressWebhookCreatedSchema()
ingress_webhook_list_schema = IngressWebhookListSchema()
ingress_webhook_filter_schema = IngressWebhookFilterSchema()
activity_accepted_schema = ActivityAcceptedSchema()
activity_list_schema = ActivityListSchema()
