"""Activity ingress: members, projects, their ingress URLs and activities.

Import them from `models`, the one import point for every table. Schema changes go through `migrations/`.
"""

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from hookyard.core.clock import utcnow
from hookyard.core.db import BaseModel, JSONField
from hookyard.keys.tables import Organization


class Member(BaseModel):
    id = CharField(max_length=40, primary_key=True)  # mem_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    email = CharField(max_length=320)  # lower-cased
    name = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)
    # Dashboard sign-in: a member with a role and a password hash (argon2) is a dashboard user.
    password_hash = TextField(null=True)
    role = CharField(max_length=16, null=True)  # admin | viewer
    password_changed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("organization", "email"), True),)  # one member per address in an organization


class Project(BaseModel):
    id = CharField(max_length=40, primary_key=True)  # proj_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    name = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)


class IngressUrl(BaseModel):
    """A project's ingress URL (the API's "custom webhook"): its token is the only credential, kept as a hash."""

    id = CharField(max_length=40, primary_key=True)  # cwh_...
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    project = ForeignKeyField(Project, backref="ingress_urls", on_delete="CASCADE")
    name = CharField(max_length=255)
    created_by = ForeignKeyField(Member, on_delete="RESTRICT")
    token_hash = CharField(max_length=64, unique=True)
    token_prefix = CharField(max_length=24)
    revoked_at = DateTimeField(null=True)
    rotated_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "ingress_webhook"


class Activity(BaseModel):
    id = CharField(max_length=40, primary_key=True)  # act_...; derived from (ingress URL, externalId) when given
    organization = ForeignKeyField(Organization, on_delete="CASCADE")
    project = ForeignKeyField(Project, on_delete="CASCADE")
    ingress_url = ForeignKeyField(
        IngressUrl, column_name="webhook_id", object_id_name="ingress_url_id", on_delete="CASCADE"
    )
    member = ForeignKeyField(Member, on_delete="RESTRICT")
    title = CharField(max_length=255)
    description = TextField(null=True)
    start_time = DateTimeField()
    end_time = DateTimeField(null=True)
    trigger = CharField(max_length=255, null=True)
    event = CharField(max_length=255, null=True)
    external_id = CharField(max_length=255, null=True)
    metadata = JSONField(null=True)
    received_at = DateTimeField()  # of the request whose version is stored: a late older one never wins
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            # The same externalId on the same ingress URL is one activity, however many requests race.
            (("ingress_url", "external_id"), True),
            (("organization", "start_time"), False),
            (("organization", "received_at"), False),  # the purge finds expired activities by receipt
        )
