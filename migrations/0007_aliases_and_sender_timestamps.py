"""Segment alias links between ids, and the custom sender's `timestamp` in the flow event log."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class IdentityAlias(Model):
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        previous_id = CharField(max_length=255)
        user_id = CharField(max_length=255)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'identity_alias'
            indexes = ((('organization', 'previous_id', 'user_id'), True), (('organization', 'user_id'), False))
    db.create_tables([IdentityAlias])

    migrator.migrate(migrator.add_column('flow_event', 'sender_timestamp', CharField(null=True, max_length=64)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('flow_event', 'sender_timestamp'))
    migrator.migrate(migrator.drop_table('identity_alias'))
