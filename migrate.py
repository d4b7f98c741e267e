"""Schema migrations: apply the numbered scripts under `migrations/` that a database has not seen."""

import os

from playhouse.migrations import Runner

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")


def migrate(database) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; return their names."""
    return Runner(database, MIGRATIONS_DIR).up()
