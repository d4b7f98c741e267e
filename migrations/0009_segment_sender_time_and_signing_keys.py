"""A signal's sender time (Segment's `timestamp`), and signal key secrets sealed to verify Segment's X-Signature."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('signal', 'timestamp', DateTimeField(null=True)),
        migrator.add_column('api_key', 'secret_encrypted', TextField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('signal', 'timestamp'),
        migrator.drop_column('api_key', 'secret_encrypted'),
    )
