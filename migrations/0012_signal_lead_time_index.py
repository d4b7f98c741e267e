"""A lead's signals by receipt time: the index on (organization, lead) gains received_at, so a lead's latest
signal is one index probe (leads sorted by last activity) and a lead's list reads in order."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index('signal', 'signal_organization_id_lead_id'),
        migrator.add_index('signal', ('organization_id', 'lead_id', 'received_at'), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('signal', 'signal_organization_id_lead_id_received_at'),
        migrator.add_index('signal', ('organization_id', 'lead_id'), False),
    )
