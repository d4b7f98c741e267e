"""What every benchmark runs on: a Redis (yours from REDIS_URL, else one started for the run), then each database
in turn, SQLite in a scratch directory and a throwaway Postgres database (skipped, saying so, when none answers)."""

import contextlib
import os
import uuid
from collections.abc import Iterator

from playhouse.db_url import connect

from hookyard.devserver.embedded_redis import EmbeddedRedis

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Which databases a benchmark runs on, in order: BENCH_DATABASES=postgres runs one turn of a long benchmark alone.
DATABASES = [key.strip() for key in os.environ.get("BENCH_DATABASES", "sqlite,postgres").split(",") if key.strip()]


@contextlib.contextmanager
def redis_url(scratch: str, persistent: bool = False, own: bool = False) -> Iterator[str]:
    """Yield REDIS_URL, or (with `own`, or when it is unset) the URL of a Redis started in `scratch` for the run."""
    if os.environ.get("REDIS_URL") and not own:
        yield os.environ["REDIS_URL"]
        return
    with EmbeddedRedis(scratch, persistent=persistent) as server:
        yield server.url


def postgres_database(admin_url: str = POSTGRES_ADMIN_URL):
    """Create a throwaway Postgres database; return its URL and a function that drops it."""
    name = f"hookyard_bench_{uuid.uuid4().hex[:8]}"
    admin = connect(admin_url)
    admin.connect()
    admin.connection().autocommit = True
    admin.execute_sql(f'CREATE DATABASE "{name}"')

    def drop():
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return admin_url.rsplit("/", 1)[0] + "/" + name, drop


def databases(scratch: str, name: str) -> Iterator[tuple[str, str, str]]:
    """Yield (key, label, database URL): SQLite, then a throwaway Postgres database, dropped after its turn (each
    only if BENCH_DATABASES names it)."""
    if "sqlite" in DATABASES:
        yield "sqlite", "SQLite", f"sqlite:///{scratch}/{name}.db"
    if "postgres" not in DATABASES:
        return
    try:
        url, drop = postgres_database()
    except Exception as error:  # no Postgres here: SQLite only
        print(f"\n== Postgres skipped: {error}")
        return
    try:
        yield "postgres", "Postgres", url
    finally:
        drop()
