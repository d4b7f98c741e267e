"""Dead letters move from bare Redis lists into a table, listed per organization; an endpoint remembers since
when it has been failing, so one failing for days is disabled; events index by type, for the newest operational ones."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class DeadLetter(Model):
        id = CharField(max_length=40, primary_key=True)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        kind = CharField(max_length=16)
        item_id = CharField(max_length=40, null=True)
        item = TextField()
        error = TextField()
        failed_at = DateTimeField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'dead_letter'
            indexes = ((('organization', 'failed_at'), False),)

    db.create_tables([DeadLetter])
    migrator.migrate(
        migrator.add_column('endpoint', 'failing_since', DateTimeField(null=True)),
        migrator.add_index('event', ('organization_id', 'type', 'created_at'), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('event', 'event_organization_id_type_created_at'),
        migrator.drop_column('endpoint', 'failing_since'),
    )
    db.execute_sql('DROP TABLE dead_letter')
