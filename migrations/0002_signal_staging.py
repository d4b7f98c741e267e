"""Signal staging: leads, identities, signals (deduplicated), plan limits, bulk imports, id blocks."""
from peewee import *


def up(migrator, db):
    class Organization(Model):
        class Meta:
            database = db
            table_name = 'organization'

    class IdBlock(Model):
        name = CharField(primary_key=True, max_length=32)
        next_value = BigIntegerField()
        class Meta:
            database = db
            table_name = 'id_block'
    db.create_tables([IdBlock])
    IdBlock.insert(name='signal', next_value=1).execute()

    class Lead(Model):
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        email = CharField(max_length=320)
        name = CharField(null=True)
        company = CharField(null=True)
        title = CharField(null=True)
        traits = TextField(default='{}')
        score = IntegerField(default=0)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'lead'
            indexes = ((('organization', 'email'), True),)
    db.create_tables([Lead])

    class Identity(Model):
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        kind = CharField(max_length=16)
        value = CharField()
        lead = ForeignKeyField(Lead, on_delete='CASCADE')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'identity'
            indexes = ((('organization', 'kind', 'value'), True),)
    db.create_tables([Identity])

    class RateLimit(Model):
        organization = ForeignKeyField(Organization, unique=True, on_delete='CASCADE')
        raw_signals_per_month = IntegerField(null=True)
        signals_per_second = IntegerField(null=True)
        overages_enabled = BooleanField(default=False)
        class Meta:
            database = db
            table_name = 'rate_limit'
    db.create_tables([RateLimit])

    class Signal(Model):
        id = BigIntegerField(primary_key=True)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        source = CharField(max_length=64)
        event = CharField(null=True)
        email = CharField(null=True, max_length=320)
        anonymous_id = CharField(null=True)
        user_id = CharField(null=True)
        lead = ForeignKeyField(Lead, null=True, on_delete='SET NULL')
        cold_storage = BooleanField(default=False)
        status = CharField(max_length=16)
        dedupe_key = CharField(max_length=80)
        duplicate_of = BigIntegerField(null=True)
        mapped_signal = CharField(null=True)
        payload = TextField(null=True)
        received_at = DateTimeField()
        processed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'signal'
            indexes = ((('organization', 'source', 'event'), False), (('organization', 'email'), False), (('organization', 'lead'), False), (('organization', 'status'), False), (('organization', 'anonymous_id'), False), (('organization', 'user_id'), False))
    db.create_tables([Signal])
    # Among signals that are not duplicates, a dedupe key appears once per organization.
    db.execute_sql('CREATE UNIQUE INDEX signal_organization_id_dedupe_key ON signal '
                   '(organization_id, dedupe_key) WHERE duplicate_of IS NULL')

    class SignalImport(Model):
        id = CharField(primary_key=True, max_length=40)
        organization = ForeignKeyField(Organization, on_delete='CASCADE')
        status = CharField(max_length=16, default='processing')
        total = IntegerField()
        chunks = IntegerField()
        next_chunk = IntegerField(default=0)
        processed = IntegerField(default=0)
        duplicates = IntegerField(default=0)
        failed = IntegerField(default=0)
        created_at = DateTimeField()
        finished_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'signal_import'
    db.create_tables([SignalImport])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('signal_import'))
    migrator.migrate(migrator.drop_table('signal'))
    migrator.migrate(migrator.drop_table('rate_limit'))
    migrator.migrate(migrator.drop_table('identity'))
    migrator.migrate(migrator.drop_table('lead'))
    migrator.migrate(migrator.drop_table('id_block'))
