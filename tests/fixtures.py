"""Tiny job functions the worker tests enqueue."""

import os
import time


def succeed(value=None):
    """Return what it was given."""
    return value


def fail(message="intended failure"):
    """Raise, as a buggy job would."""
    raise ValueError(message)


def sleep_then_write(seconds, path):
    """Sleep, then write a marker file: shows a job in hand was finished before shutdown."""
    time.sleep(seconds)
    with open(path, "w") as marker:
        marker.write(str(os.getpid()))
