"""Whether this process serves requests as gevent greenlets, and how blocking work stays off their loop.

The web process runs under gunicorn's gevent worker (gunicorn.conf.py), which patches sockets so
that a request waiting on Redis or Postgres lets the others run. SQLite's driver cannot be made
cooperative: a write that waits for the worker's lock would hold up every request of the process,
so such calls run in gevent's thread pool. Outside gevent (tests, the worker, `flask` commands)
everything here calls straight through.
"""

import functools


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
