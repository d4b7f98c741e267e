"""Organizations and their API keys."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        name = CharField(max_length=200)
        management_key_hash = CharField(unique=True, max_length=64)
        management_key_prefix = CharField(max_length=16)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'organization'
    db.create_tables([Organization])

    class ApiKey(Model):
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        name = CharField(max_length=200)
        endpoint_type = CharField(max_length=32)
        key_hash = CharField(unique=True, max_length=64)
        key_prefix = CharField(max_length=16)
        secret_hash = CharField(null=True, max_length=64)
        active = BooleanField(default=True)
        expires_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'api_key'
    db.create_tables([ApiKey])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('api_key'))
    migrator.migrate(migrator.drop_table('organization'))
