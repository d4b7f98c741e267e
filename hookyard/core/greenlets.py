"""Whether this process serves requests as gevent greenlets, and what web code does differently then.

Imports gevent only in a process where gevent is already loaded and has patched sockets (gunicorn's
gevent worker, gunicorn.conf.py), so the worker, the CLI and `import models` never load it.
"""

import sys


def active() -> bool:
    """Tell whether gevent has patched this process's sockets."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def pause() -> None:
    """Let the process's other requests run in the middle of a long computation (a no-op without gevent).

    A greenlet is never preempted: validating a 100,000-signal import would otherwise hold every other
    request of the process for seconds (threads were at least switched every few milliseconds).
    """
    if active():
        import gevent

        # A timer, not sleep(0): that runs the greenlets already ready, but new requests on the sockets
        # may wait until this computation ends (seen in tests/system/test_web_server.py).
        gevent.sleep(0.0001)


def script_caller(redis, script_text: str, name: str):
    """Return a callable `(keys, args)` that runs a Lua script: under gevent, concurrent calls share round
    trips (script_batch.py); elsewhere (tests, the CLI) each call is its own, through redis-py."""
    if active():
        from hookyard.core.script_batch import ScriptBatcher

        return ScriptBatcher(redis, script_text, name)
    script = redis.register_script(script_text)
    return lambda keys, args: script(keys=keys, args=args)
