"""The database: opened from DATABASE_URL (SQLite by default, Postgres when it says so), bound late, migrated.

Every model binds to `db`, a DatabaseProxy that `bind_database` points at the real database once the
configuration is known. Schema changes go through `migrations/`, never `create_tables` at runtime.
This module never imports gevent: the gevent-only SQLite wrapper is loaded only in a patched process.
"""

import contextlib
import os

import orjson
from peewee import DatabaseProxy, Model, PostgresqlDatabase, TextField
from playhouse.db_url import connect
from playhouse.db_url import parse as parse_url
from playhouse.migrations import Runner

from hookyard.core import greenlets
from hookyard.core.config import ROOT

MIGRATIONS_DIR = os.path.join(ROOT, "migrations")

db = DatabaseProxy()


def open_database(url: str):
    """Return a Database for a URL, tuned for a web and a worker process sharing it."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # WAL lets the web read while the worker writes; busy_timeout waits out short write locks.
        # Transactions take the write lock up front (IMMEDIATE): a read-then-write transaction that
        # began deferred would fail with "database is locked" instead of waiting its turn.
        # auto_vacuum first: it only takes on a new file, before WAL writes the header (`flask vacuum` converts).
        pragmas = {
            "auto_vacuum": "incremental",
            "journal_mode": "wal",
            "busy_timeout": 5000,
            "synchronous": "normal",
            "foreign_keys": 1,
        }
        if greenlets.active():  # a gevent web process: statements wait in threads (cooperative.py)
            from hookyard.core.cooperative import CooperativeSqliteDatabase

            return CooperativeSqliteDatabase(**parse_url(url), pragmas=pragmas, lock_type="IMMEDIATE")
        return connect(url, pragmas=pragmas, lock_type="IMMEDIATE")
    if url.startswith(("postgres://", "postgresql://")):
        # A pool: a web request or a job borrows a connection instead of opening one. A web process
        # serves many requests at once (gevent): past 20 at the database they wait for a connection.
        scheme, rest = url.split("://", 1)
        return connect(f"{scheme}+pool://{rest}", max_connections=20, stale_timeout=300, timeout=10)
    return connect(url)


def bind_database(url: str):
    """Open the database at `url` and bind every model to it."""
    database = open_database(url)
    db.initialize(database)
    return database


def migrate(database) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; return their names."""
    return Runner(database, MIGRATIONS_DIR).up()


@contextlib.contextmanager
def briefly_connected():
    """Use the database for a moment on a busy path, giving back at once a connection opened for it.

    Otherwise the request would hold it (a pooled Postgres connection) until its teardown, also while
    it waits on Redis; a connection that was already open (a transaction, perhaps) is left alone.
    """
    opened_here = db.is_closed()
    try:
        yield
    finally:
        if opened_here and not db.is_closed():
            db.close()


def close_database(database) -> None:
    """Close every connection `database` holds: a Postgres pool's idle ones too (tests and benchmarks drop or
    empty the database after)."""
    if hasattr(database, "close_all"):
        database.close_all()
    elif not database.is_closed():
        database.close()


def insert_rows(model, rows: list[dict]) -> None:
    """Insert many rows in one prepared statement, skipping rows that hit a unique index.

    Peewee's insert_many builds its SQL value by value, which costs more than the insert itself at
    thousands of rows; here each field converts its values and the driver does the rest.
    """
    if not rows:
        return
    fields = [model._meta.fields[name] for name in rows[0]]
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    values = [tuple(field.db_value(row[field.name]) for field in fields) for row in rows]
    # Table and column names come from the model, never from input; values are always parameters.
    insert = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES {{}} ON CONFLICT DO NOTHING'  # noqa: S608
    cursor = db.cursor()
    if isinstance(db.obj, PostgresqlDatabase):
        from psycopg2.extras import execute_values

        execute_values(cursor, insert.format("%s"), values, page_size=1000)
    else:
        cursor.executemany(insert.format("(" + ", ".join("?" * len(fields)) + ")"), values)


class JSONField(TextField):
    """JSON stored as text, the same on SQLite and Postgres."""

    def db_value(self, value):
        return None if value is None else orjson.dumps(value).decode()

    def python_value(self, value):
        return None if value is None else orjson.loads(value)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False
