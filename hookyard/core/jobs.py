"""The job context: where every job finds its configuration and connections, set up by the worker.

A job is a plain function, enqueued by passing the function itself (`queue.enqueue(drain_signals)`):
RQ stores its dotted path, so go-to-definition works and a renamed job fails at import, not in the
queue. Jobs take ids or plain data, never ORM objects, and are safe to run twice. While the worker
runs a job, `current()` returns its JobContext; outside a worker there is none, and asking is a bug.
"""

import contextlib
import contextvars
import threading
from dataclasses import dataclass
from functools import cached_property

from redis import Redis
from rq import Queue, Retry, get_current_job

from hookyard.core.config import Config
from hookyard.core.credentials import SecretBox
from hookyard.core.queues import make_queues

# Set by the worker on SIGTERM: long jobs (drains, dispatches) finish what is in hand and start nothing
# new, so a warm shutdown on a deploy ends within DELIVERY_TIMEOUT instead of when a backlog is sent.
SHUTDOWN = threading.Event()

_current: contextvars.ContextVar["JobContext"] = contextvars.ContextVar("hookyard_job_context")


@dataclass(frozen=True)
class JobContext:
    """What a job may use: the configuration, the Redis it was queued on, the queues and the secret box."""

    config: Config
    redis: Redis

    @property
    def prefix(self) -> str:
        return self.config.redis_prefix

    @property
    def max_attempts(self) -> int:
        """Attempts a new delivery gets: the first, then one per step of the retry schedule."""
        return 1 + len(self.config.retry_schedule)

    @cached_property
    def queues(self) -> dict[str, Queue]:
        return make_queues(self.redis)

    @cached_property
    def secret_box(self) -> SecretBox:
        return SecretBox(self.config.encryption_key)


def current() -> JobContext:
    """Return the context of the job being run."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("no job context: jobs run inside a Hookyard worker (worker.make_worker)") from None


@contextlib.contextmanager
def activated(context: JobContext):
    """Make `context` the one `current()` returns while the block runs."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def at_least_once() -> Retry:
    """RQ's retry for every job: one whose worker died (or that a dying worker was handed, and RQ's maintenance
    fails a minute later) runs again at once. Jobs are safe to run twice."""
    return Retry(max=3)


def current_job():
    """Return the RQ job being run (for its id, meta and connection)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("no job is running")
    return job
