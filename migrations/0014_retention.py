"""Retention: each organization's own policy (days to keep payloads, delivery history and activities), when a
signal's payload or a flow event's data was cleared, and the indexes the purge walks: activities and outbound
events by organization and time."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class RetentionPolicy(Model):
        organization = ForeignKeyField(Organization, unique=True, on_delete='CASCADE')
        signal_payload_days = IntegerField(null=True)
        flow_event_payload_days = IntegerField(null=True)
        delivery_history_days = IntegerField(null=True)
        activity_days = IntegerField(null=True)
        updated_at = DateTimeField(null=True)
        signal_payloads_cleared_before = DateTimeField(null=True)
        flow_event_payloads_cleared_before = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = 'retention_policy'

    db.create_tables([RetentionPolicy])
    migrator.migrate(
        migrator.add_column('signal', 'payload_purged_at', DateTimeField(null=True)),
        migrator.add_column('flow_event', 'data_purged_at', DateTimeField(null=True)),
        migrator.add_index('activity', ('organization_id', 'received_at'), False),
        migrator.add_index('event', ('organization_id', 'created_at'), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('event', 'event_organization_id_created_at'),
        migrator.drop_index('activity', 'activity_organization_id_received_at'),
        migrator.drop_column('flow_event', 'data_purged_at'),
        migrator.drop_column('signal', 'payload_purged_at'),
    )
    db.execute_sql('DROP TABLE retention_policy')
