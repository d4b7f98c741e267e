"""Disk space during and after a purge. Postgres: autovacuum makes freed space reusable (files do not shrink;
nothing to do here). SQLite: the write-ahead log is kept in bounds between batches; a database made with
incremental auto-vacuum gives freed pages back to the file system a few thousand at a time; an older file is
converted, once, by `flask vacuum`."""

import logging
import os
from collections.abc import Callable

from peewee import OperationalError, SqliteDatabase

from hookyard.core.db import db

logger = logging.getLogger(__name__)

VACUUM_STEP = 2000  # SQLite pages (4 KiB each by default) given back per statement
# How far the purge lets SQLite's write-ahead log grow before it empties it. SQLite's own checkpoints (PASSIVE, after
# commits) copy the log into the database but can only start it over at a moment when no other connection is
# reading or writing; with ingestion going on beside a purge that moment never came, and the log grew past the
# database's own size (1.4 GB beside a 1.25 GB file). A TRUNCATE checkpoint waits for that moment and holds new
# writers for its length: about 0.1 s per 256 MB here.
WAL_LIMIT = 256 * 1024 * 1024
# How long that checkpoint waits for readers to finish, holding the write lock: short, so a writer beside it never
# comes near its own busy_timeout; a reader still busy by then leaves the log for the next batch.
CHECKPOINT_WAIT_MS = 250


def _never() -> bool:
    """A stop condition that never holds."""
    return False


def release_free_space(pages_per_step: int = VACUUM_STEP, should_stop: Callable[[], bool] = _never) -> int:
    """On SQLite with incremental auto-vacuum, give the pages a purge freed back to the file system, a few
    thousand per statement; return how many. Elsewhere nothing: Postgres's autovacuum makes the space reusable."""
    if not isinstance(db.obj, SqliteDatabase) or db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    released = 0
    free = db.execute_sql("PRAGMA freelist_count").fetchone()[0]
    while free > 0 and not should_stop():
        db.execute_sql(f"PRAGMA incremental_vacuum({int(pages_per_step)})").fetchall()  # each row read frees a page
        left = db.execute_sql("PRAGMA freelist_count").fetchone()[0]
        if left >= free:
            break
        released, free = released + free - left, left
    return released


def bound_write_ahead_log(limit: int | None = None) -> bool:
    """On SQLite, between transactions: when the write-ahead log has grown past `limit` bytes (WAL_LIMIT), copy it
    into the database and truncate it. Return whether it was emptied; a reader still busy after
    CHECKPOINT_WAIT_MS keeps it for the next call."""
    if not isinstance(db.obj, SqliteDatabase) or db.in_transaction():
        return False
    try:
        if os.path.getsize(f"{db.obj.database}-wal") <= (WAL_LIMIT if limit is None else limit):
            return False
    except OSError:  # no log (not in WAL mode, or a database in memory)
        return False
    (usual_wait,) = db.execute_sql("PRAGMA busy_timeout").fetchone()
    try:
        db.execute_sql(f"PRAGMA busy_timeout = {int(CHECKPOINT_WAIT_MS)}")
        busy, _, _ = db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except OperationalError as error:
        logger.warning("write-ahead log not emptied this time: %s", error)
        return False
    finally:
        db.execute_sql(f"PRAGMA busy_timeout = {int(usual_wait)}")
    return not busy


def vacuum() -> dict[str, int | str]:
    """SQLite only: switch the file to incremental auto-vacuum and rebuild it, giving back every free page.

    Holds the write lock while it runs (about as long as copying the file) and needs that much free disk.
    """
    if not isinstance(db.obj, SqliteDatabase):
        return {"database": "postgres", "note": "autovacuum reclaims space; nothing to do"}
    size = _sqlite_bytes()
    db.execute_sql("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect with the VACUUM that follows
    db.execute_sql("VACUUM")
    return {"database": "sqlite", "bytes_before": size, "bytes_after": _sqlite_bytes(), "auto_vacuum": "incremental"}


def _sqlite_bytes() -> int:
    """The SQLite file's size, in bytes, as its pages count it."""
    pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    return pages * db.execute_sql("PRAGMA page_size").fetchone()[0]


def release_what_it_can(should_stop: Callable[[], bool]) -> int:
    """Give freed SQLite pages back; a busy database leaves them for the next purge (they are reused meanwhile)."""
    try:
        return release_free_space(should_stop=should_stop)
    except OperationalError as error:
        logger.warning("free pages not given back this time: %s", error)
        return 0
