"""The purge benchmark's measures of size: the database's bytes, each table's (its rows, its indexes), a stored
payload's, and per row."""

import os

import psycopg2

from bench.purge_fill import TABLES
from hookyard.core.db import db


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def file_bytes(path: str) -> int:
    """The SQLite file and its write-ahead log."""
    return sum(os.path.getsize(name) for name in (path, path + "-wal") if os.path.exists(name))


def table_bytes(sql, url: str) -> dict[str, dict[str, int]]:
    """Return each table's bytes: its rows, its indexes, both (SQLite: dbstat, reading every page)."""
    if sql.key == "sqlite":
        owner = dict(db.execute_sql("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        sizes = {table: {"table": 0, "indexes": 0} for table in TABLES}
        # Page by page and summed here: dbstat's aggregate mode overflows 32 bits past 2 GiB on SQLite 3.40.
        for name, size in db.execute_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall():
            table = owner.get(name, name.removeprefix("sqlite_autoindex_").rsplit("_", 1)[0])
            if table in sizes:
                sizes[table]["table" if name == table else "indexes"] += size
    else:
        with raw_postgres(url) as cursor:
            sizes = {}
            for table in TABLES:
                cursor.execute("SELECT pg_table_size(%s), pg_indexes_size(%s)", (table, table))
                heap, indexes = cursor.fetchone()
                sizes[table] = {"table": heap, "indexes": indexes}
    for size in sizes.values():
        size["total"] = size["table"] + size["indexes"]
    return sizes


class raw_postgres:
    """An autocommit psycopg2 cursor of its own (VACUUM cannot run in a transaction)."""

    def __init__(self, url: str):
        self.connection = psycopg2.connect(url)
        self.connection.autocommit = True

    def __enter__(self):
        return self.connection.cursor()

    def __exit__(self, *_):
        self.connection.close()


def database_bytes(sql, url: str) -> int:
    if sql.key == "sqlite":
        return file_bytes(sqlite_path(url))
    with raw_postgres(url) as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return cursor.fetchone()[0]


def payload_bytes(sql) -> float:
    """The average stored size of a signal payload (a sample of 100,000)."""
    size = "length(CAST(payload AS BLOB))" if sql.key == "sqlite" else "pg_column_size(payload)"
    sample = f"SELECT {size} AS size FROM signal WHERE payload IS NOT NULL LIMIT 100000"
    return float(db.execute_sql(f"SELECT avg(size) FROM ({sample}) sample").fetchone()[0])


def per_row(filled: dict) -> dict[str, dict[str, float]]:
    """Bytes per row of each table: its rows, its indexes."""
    return {
        table: {part: size[part] / filled["tables"][table]["rows"] for part in ("table", "indexes")}
        for table, size in filled["sizes"].items()
    }


def signal_row_bytes(result: dict) -> dict:
    """A signal row's bytes: its table part with its payload and without (less the average payload as stored:
    measured on SQLite after a purge, this was within a byte), its indexes built at once and grown row by row."""
    built, grown_rows = per_row(result["filled"])["signal"], per_row(result["grown"])["signal"]
    payload = result["filled"]["payload_bytes"]
    return {"table_with_payload": built["table"], "table_without_payload": built["table"] - payload,
            "indexes_built": built["indexes"], "indexes_grown": grown_rows["indexes"], "payload": payload}  # fmt: skip
