"""Flow events by organization and time: the purge walks an organization's flow event data in one ordered pass,
a batch at a time, and resumes where it stopped (it walked flow by flow before, and restarted from the first)."""
from peewee import *


def up(migrator, db):
    migrator.migrate(migrator.add_index('flow_event', ('organization_id', 'received_at'), False))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('flow_event', 'flow_event_organization_id_received_at'))
