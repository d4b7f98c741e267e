"""Activity ingress: members, projects, their custom webhooks, and the activities posted to them."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class Project(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        name = CharField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'project'
    db.create_tables([Project])

    class Member(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        email = CharField(max_length=320)
        name = CharField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'member'
            indexes = ((('organization', 'email'), True),)
    db.create_tables([Member])

    class IngressWebhook(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        project = ForeignKeyField(Project, on_delete='CASCADE')
        name = CharField()
        created_by = ForeignKeyField(Member, on_delete='RESTRICT')
        token_hash = CharField(unique=True, max_length=64)
        token_prefix = CharField(max_length=24)
        revoked_at = DateTimeField(null=True)
        rotated_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'ingress_webhook'
    db.create_tables([IngressWebhook])

    class Activity(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        project = ForeignKeyField(Project, on_delete='CASCADE')
        webhook = ForeignKeyField(IngressWebhook, on_delete='CASCADE')
        member = ForeignKeyField(Member, on_delete='RESTRICT')
        title = CharField()
        description = TextField(null=True)
        start_time = DateTimeField()
        end_time = DateTimeField(null=True)
        trigger = CharField(null=True)
        event = CharField(null=True)
        external_id = CharField(null=True)
        metadata = TextField(null=True)
        received_at = DateTimeField()
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'activity'
            indexes = ((('webhook', 'external_id'), True), (('organization', 'start_time'), False))
    db.create_tables([Activity])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('activity'))
    migrator.migrate(migrator.drop_table('ingress_webhook'))
    migrator.migrate(migrator.drop_table('member'))
    migrator.migrate(migrator.drop_table('project'))
