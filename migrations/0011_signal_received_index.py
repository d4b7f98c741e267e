"""Signals by organization and receipt time: the dashboard's counts of today, and time windows."""
from peewee import *


def up(migrator, db):
    migrator.migrate(migrator.add_index('signal', ('organization_id', 'received_at'), False))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('signal', 'signal_organization_id_received_at'))
