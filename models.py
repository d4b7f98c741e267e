"""Peewee models: tables, indexes and small query methods. No HTTP, no Redis.

The database is bound late through `db` (a DatabaseProxy): SQLite by default, Postgres when
DATABASE_URL says so. Schema changes go through `migrations/`, never `create_tables` at runtime.
"""

import datetime
import os

from peewee import (
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    Model,
)
from playhouse.db_url import connect

db = DatabaseProxy()

ENDPOINT_TYPES = ("signal_staging", "flow")


def utcnow() -> datetime.datetime:
    """Return the current UTC time as a naive datetime, the form every table stores."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def open_database(url: str):
    """Return a Database for a URL, tuned for a web and a worker process sharing it."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # WAL lets the web read while the worker writes; busy_timeout waits out short write locks.
        pragmas = {"journal_mode": "wal", "busy_timeout": 5000, "synchronous": "normal", "foreign_keys": 1}
        return connect(url, pragmas=pragmas)
    if url.startswith(("postgres://", "postgresql://")):
        # A pool: a web request or a job borrows a connection instead of opening one.
        scheme, rest = url.split("://", 1)
        return connect(f"{scheme}+pool://{rest}", max_connections=20, stale_timeout=300)
    return connect(url)


def bind_database(url: str):
    """Open the database at `url` and bind every model to it."""
    database = open_database(url)
    db.initialize(database)
    return database


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Organization(BaseModel):
    name = CharField(max_length=200)
    management_key_hash = CharField(max_length=64, unique=True)
    management_key_prefix = CharField(max_length=16)
    created_at = DateTimeField(default=utcnow)

    @classmethod
    def for_management_key_hash(cls, key_hash: str):
        """Return the organization owning a management key hash, or None."""
        return cls.get_or_none(cls.management_key_hash == key_hash)


class ApiKey(BaseModel):
    organization = ForeignKeyField(Organization, backref="api_keys", on_delete="CASCADE")
    name = CharField(max_length=200)
    endpoint_type = CharField(max_length=32)
    key_hash = CharField(max_length=64, unique=True)
    key_prefix = CharField(max_length=16)
    secret_hash = CharField(max_length=64, null=True)
    active = BooleanField(default=True)
    expires_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    @property
    def has_secret(self) -> bool:
        return self.secret_hash is not None

    def is_usable(self, now: datetime.datetime | None = None) -> bool:
        """Tell whether the key is active and not expired."""
        now = now or utcnow()
        return self.active and (self.expires_at is None or self.expires_at > now)


MODELS = [Organization, ApiKey]
