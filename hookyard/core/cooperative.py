"""How blocking work stays off a gevent web process's loop: SQLite in threads, psycopg2 made cooperative.

The web process runs under gunicorn's gevent worker (gunicorn.conf.py), which patches sockets so
that a request waiting on Redis or Postgres (psycogreen) lets the others run. SQLite's driver cannot
be made cooperative: a statement waiting for the worker's write lock (busy_timeout) would hold up
every request of the process, so there each statement runs in a thread pool kept for SQLite.
Imported only in a gevent process (hookyard.core.db, gunicorn.conf.py): outside gevent (tests, the
worker, `flask` commands) nothing here is loaded.
"""

from gevent.threadpool import ThreadPool
from peewee import SqliteDatabase

SQLITE_THREADS = 20
_sqlite_pool = ThreadPool(SQLITE_THREADS)


def in_sqlite_thread(func, *args):
    """Start a blocking SQLite call in the thread pool kept for SQLite (not gevent's shared one, which
    also resolves host names: a few writes waiting out the worker's lock must not stall Redis
    reconnects); return its AsyncResult."""
    return _sqlite_pool.spawn(func, *args)


def patch_postgres_driver() -> None:
    """Make psycopg2 wait for Postgres through gevent, so a query no longer blocks the other requests."""
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


class _ThreadedCursor:
    """A sqlite3 cursor whose statements run in the SQLite thread pool; the rest is the cursor's own."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql, params=()):
        self._run(self._cursor.execute, sql, params)
        return self

    def executemany(self, sql, seq_of_params):
        self._run(self._cursor.executemany, sql, seq_of_params)
        return self

    def _run(self, func, *args):
        running = in_sqlite_thread(func, *args)
        try:
            return running.get()
        except BaseException:
            if not running.ready():
                # This greenlet was killed while its statement runs: stop the statement and wait for
                # the thread, so the connection is never in two threads' hands (a rollback or close next).
                self._cursor.connection.interrupt()
                running.wait()
            raise

    def __iter__(self):
        return iter(self._cursor)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class CooperativeSqliteDatabase(SqliteDatabase):
    """SQLite for a gevent process: opening, statements (BEGIN and COMMIT included) and closing (which
    may checkpoint the WAL) wait in a thread, not on the event loop.

    A connection still belongs to one greenlet, which waits for each of its calls, so it is used by
    one thread at a time; it is opened with check_same_thread=False because the pool's threads take
    turns with it.
    """

    def __init__(self, database, **kwargs):
        super().__init__(database, check_same_thread=False, **kwargs)

    def _connect(self):
        return in_sqlite_thread(super()._connect).get()

    def _close(self, conn):
        in_sqlite_thread(super()._close, conn).get()

    def cursor(self, named_cursor=None):
        return _ThreadedCursor(super().cursor(named_cursor))
