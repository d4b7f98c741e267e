"""Mapping rules, and what the signal queue needs: which rule mapped a signal, an index to group by."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class MappingRule(Model):
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        name = CharField()
        source = CharField(null=True, max_length=64)
        event = CharField(null=True)
        conditions = TextField()
        field_map = TextField()
        signal_name = CharField()
        score = IntegerField(default=0)
        priority = IntegerField(default=0)
        active = BooleanField(default=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'mapping_rule'
            indexes = ((('organization', 'active', 'priority'), False),)
    db.create_tables([MappingRule])

    migrator.migrate(migrator.drop_index('signal', 'signal_organization_id_status'))
    migrator.migrate(migrator.add_column('signal', 'mapping_rule_id', IntegerField(null=True)))
    migrator.migrate(migrator.add_index('signal', ('organization_id', 'status', 'source', 'event', 'received_at')))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('signal', 'signal_organization_id_status_source_event_received_at'))
    migrator.migrate(migrator.drop_column('signal', 'mapping_rule_id'))
    migrator.migrate(migrator.add_index('signal', ('organization_id', 'status')))
    migrator.migrate(migrator.drop_table('mapping_rule'))
