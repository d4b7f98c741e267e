"""Dashboard sign-in for an organization's members (a password hash and a role), and management keys of
their own table, so an organization can hold several, rotate and revoke them. Existing keys move there."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class ManagementKey(Model):
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        name = CharField(max_length=200)
        key_hash = CharField(max_length=64, unique=True)
        key_prefix = CharField(max_length=16)
        created_at = DateTimeField()
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'management_key'
    db.create_tables([ManagementKey])
    db.execute_sql(
        "INSERT INTO management_key (organization_id, name, key_hash, key_prefix, created_at) "
        "SELECT id, 'initial', management_key_hash, management_key_prefix, created_at FROM organization"
    )
    migrator.migrate(
        migrator.drop_not_null('organization', 'management_key_hash'),
        migrator.drop_not_null('organization', 'management_key_prefix'),
        migrator.add_column('member', 'password_hash', TextField(null=True)),
        migrator.add_column('member', 'role', CharField(max_length=16, null=True)),
        migrator.add_column('member', 'password_changed_at', DateTimeField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('member', 'password_changed_at'),
        migrator.drop_column('member', 'role'),
        migrator.drop_column('member', 'password_hash'),
    )
    migrator.migrate(migrator.drop_table('management_key'))
