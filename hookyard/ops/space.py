"""Disk space after a purge. Postgres: autovacuum makes freed space reusable (files do not shrink; nothing to do
here). SQLite: a database made with incremental auto-vacuum gives freed pages back to the file system a few
thousand at a time; an older file is converted, once, by `flask vacuum`."""

import logging
from collections.abc import Callable

from peewee import OperationalError, SqliteDatabase

from hookyard.core.db import db

logger = logging.getLogger(__name__)

VACUUM_STEP = 2000  # SQLite pages (4 KiB each by default) given back per statement


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
