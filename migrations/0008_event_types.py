"""Event types of an organization's own, and its changes to the sample ones (Hookyard's own live in code)."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class EventType(Model):
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        name = CharField(max_length=255)
        description = TextField(default='')
        data_schema = TextField(null=True)
        archived = BooleanField(default=False)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'event_type'
            indexes = ((('organization', 'name'), True),)
    db.create_tables([EventType])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('event_type'))
