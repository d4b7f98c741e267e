"""Whether this process serves requests as gevent greenlets, and how blocking work stays off their loop.

The web process runs under gunicorn's gevent worker (gunicorn.conf.py), which patches sockets so
that a request waiting on Redis or Postgres (psycogreen) lets the others run. SQLite's driver cannot
be made cooperative: a statement waiting for the worker's write lock (busy_timeout) would hold up
every request of the process, so there each statement runs in gevent's thread pool. Outside gevent
(tests, the worker, `flask` commands) nothing here is used.
"""

import functools

from peewee import SqliteDatabase


@functools.cache
def enabled() -> bool:
    """Tell whether gevent has patched this process's sockets (asked once: patching precedes the app)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a runtime requirement
        return False
    return monkey.is_module_patched("socket")


def in_thread(func, *args):
    """Run a blocking `func(*args)` in a real thread under gevent, directly otherwise; return its result."""
    if not enabled():
        return func(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(func, args)


def patch_postgres_driver() -> None:
    """Make psycopg2 wait for Postgres through gevent, so a query no longer blocks the other requests."""
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


class _ThreadedCursor:
    """A sqlite3 cursor whose statements run in gevent's thread pool; the rest is the cursor's own."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql, params=()):
        in_thread(self._cursor.execute, sql, params)
        return self

    def executemany(self, sql, seq_of_params):
        in_thread(self._cursor.executemany, sql, seq_of_params)
        return self

    def __iter__(self):
        return iter(self._cursor)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class CooperativeSqliteDatabase(SqliteDatabase):
    """SQLite for a gevent process: statements (BEGIN and COMMIT included) wait in a thread, not the loop.

    A connection still belongs to one greenlet, which waits for each of its statements, so it is never
    used by two threads at once; it is opened with check_same_thread=False because it is used by the
    pool's threads in turn.
    """

    def __init__(self, database, **kwargs):
        super().__init__(database, check_same_thread=False, **kwargs)

    def cursor(self, named_cursor=None):
        return _ThreadedCursor(super().cursor(named_cursor))
