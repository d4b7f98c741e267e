"""Flows: inbound URLs for GitHub, Stripe and custom senders, and the event log of what they accepted."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class Flow(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        name = CharField()
        webhook_id = CharField(unique=True, max_length=64)
        secret_encrypted = TextField(null=True)
        github_secret_encrypted = TextField(null=True)
        stripe_secret_encrypted = TextField(null=True)
        rate_limit_per_second = IntegerField(default=100)
        active = BooleanField(default=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'flow'
    db.create_tables([Flow])

    class FlowEvent(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        flow = ForeignKeyField(Flow, on_delete='CASCADE')
        event = CharField()
        source = CharField(max_length=16)
        verified = BooleanField()
        duplicate = BooleanField(default=False)
        duplicate_of = CharField(null=True, max_length=40)
        dedupe_key = CharField(null=True, max_length=64)
        status = CharField(max_length=16)
        data = TextField(null=True)
        outbound_event_id = CharField(null=True, max_length=40)
        received_at = DateTimeField()
        received_minute = IntegerField()
        processed_at = DateTimeField()
        latency_ms = IntegerField()
        class Meta:
            database = db
            table_name = 'flow_event'
            indexes = ((('flow', 'received_at'), False), (('flow', 'event', 'received_at'), False), (('flow', 'received_minute'), False))
    db.create_tables([FlowEvent])
    db.execute_sql('CREATE UNIQUE INDEX flow_event_flow_id_dedupe_key ON flow_event (flow_id, dedupe_key) '
                   'WHERE duplicate = false')


def down(migrator, db):
    migrator.migrate(migrator.drop_table('flow_event'))
    migrator.migrate(migrator.drop_table('flow'))
