"""Outbound webhooks: endpoints, events, deliveries and every attempt."""
from peewee import *



def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class Endpoint(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        url = TextField()
        events = TextField()
        description = TextField(null=True)
        active = BooleanField(default=True)
        disabled_reason = CharField(null=True)
        secret_encrypted = TextField()
        previous_secret_encrypted = TextField(null=True)
        previous_secret_expires_at = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'endpoint'
    db.create_tables([Endpoint])

    class Event(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        type = CharField()
        body = TextField()
        idempotency_key = CharField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'event'
            indexes = ((('organization', 'idempotency_key'), True),)
    db.create_tables([Event])

    class Delivery(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        endpoint = ForeignKeyField(Endpoint, on_delete='CASCADE')
        event = ForeignKeyField(Event, on_delete='CASCADE')
        status = CharField(max_length=16, default='pending')
        attempts = IntegerField(default=0)
        max_attempts = IntegerField()
        status_code = IntegerField(null=True)
        error = TextField(null=True)
        next_attempt_at = DateTimeField(null=True)
        lease_until = DateTimeField(null=True)
        delivered_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'delivery'
            indexes = ((('endpoint', 'event'), True), (('status', 'next_attempt_at'), False), (('endpoint', 'status'), False))
    db.create_tables([Delivery])

    class DeliveryAttempt(Model):
        delivery = ForeignKeyField(Delivery, on_delete='CASCADE')
        number = IntegerField()
        started_at = DateTimeField()
        duration_ms = IntegerField()
        status_code = IntegerField(null=True)
        response_body = TextField(null=True)
        error = TextField(null=True)
        class Meta:
            database = db
            table_name = 'delivery_attempt'
    db.create_tables([DeliveryAttempt])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('delivery_attempt'))
    migrator.migrate(migrator.drop_table('delivery'))
    migrator.migrate(migrator.drop_table('event'))
    migrator.migrate(migrator.drop_table('endpoint'))
