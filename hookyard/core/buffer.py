"""The one buffer mechanism: web processes append to a Redis list, the worker claims, stores and sweeps.

Signals and flow events both go through it, each with its own keys (`BufferKeys(prefix, name)`) and
its own store function. A request appends an item to `<prefix>:<name>:buffer` and, when no drain is
pending, enqueues the drain job. The drain job claims items in chunks into a processing list named
after itself (CLAIM_SCRIPT), stores a chunk, then deletes that list: a worker that dies leaves its
claim behind, and the next run of the job stores it again, idempotently. The maintenance sweep gives
the claims of jobs that are gone back to the buffer (ADOPT_SCRIPT) and drains a buffer that no job
is coming for. An item that cannot be stored even on its own is set aside in the dead-letter list,
never dropped. Nothing here knows what an item means.
"""

import logging
import time
from collections.abc import Callable

import orjson
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from hookyard.core.db import db
from hookyard.core.jobs import SHUTDOWN, at_least_once
from hookyard.core.queues import TRANSIENT_ERRORS, make_queues

logger = logging.getLogger(__name__)

DRAIN_FLAG_TTL = 60  # seconds a pending drain stays pending, should its job be lost before it starts
DRAIN_BUDGET = 120  # seconds a drain job runs before handing the rest of the buffer to a fresh one
DRAIN_TIMEOUT = 600  # RQ's job timeout for a drain job
SWEEP_EVERY = 20  # seconds between sweeps of one buffer across all workers

CLAIM_SCRIPT = """
-- KEYS: buffer, processing list. ARGV: most items to claim.
-- Moves up to ARGV[1] items from the buffer to the processing list, atomically; returns them.
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], #items, -1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
return items
"""

ADOPT_SCRIPT = """
-- KEYS: a gone job's processing list, the buffer. Returns how many items went back.
-- Gives the claim back to the front of the buffer, in its order: LPUSH reverses what it is given, so
-- push from the last item back.
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local last = #items
while last >= 1 do
  local first = math.max(1, last - 999)
  local chunk = {}
  for i = last, first, -1 do chunk[#chunk + 1] = items[i] end
  redis.call('LPUSH', KEYS[2], unpack(chunk))
  last = first - 1
end
redis.call('DEL', KEYS[1])
return #items
"""


class ClaimTaken(Exception):
    """Another run stored this claim already: the job stops, and nothing is set aside."""


class BufferKeys:
    """The Redis keys of one buffer (`signals`, `flows`) under one prefix."""

    def __init__(self, prefix: str, name: str):
        self.prefix = prefix
        self.base = f"{prefix}:{name}"
        self.buffer = f"{self.base}:buffer"
        self.drain_flag = f"{self.base}:drain-pending"
        self.processing_pattern = f"{self.base}:processing:*"
        self.sweep_lock = f"{self.base}:sweep-lock"
        self.dead_letter = f"{self.base}:dead-letter"

    def processing(self, job_id: str) -> str:
        return f"{self.base}:processing:{job_id}"


def enqueue_drain(queue, drain_job: Callable, **options) -> Job:
    """Queue a drain job (by function) with the retry and timeout every drain gets."""
    return queue.enqueue(drain_job, retry=at_least_once(), job_timeout=DRAIN_TIMEOUT, **options)


def request_drain(redis, queue, keys: BufferKeys, drain_job: Callable) -> bool:
    """Queue a drain when items wait and none is pending; return whether one was queued."""
    if redis.llen(keys.buffer) and redis.set(keys.drain_flag, 1, nx=True, ex=DRAIN_FLAG_TTL):
        enqueue_drain(queue, drain_job)
        return True
    return False


def drain(keys: BufferKeys, claim_size: int, store: Callable[[list[bytes]], int], drain_job: Callable) -> int:
    """Store what waits in a buffer, a claim per `store(items)` call; return what `store` counted.

    Runs inside an RQ job. Takes first the claim a dead run of this job left behind. Stops between
    claims on SIGTERM or past DRAIN_BUDGET and hands the rest of the buffer to a fresh `drain_job`:
    a drain under sustained load would otherwise run into its timeout.
    """
    job = get_current_job()
    redis = job.connection
    redis.delete(keys.drain_flag)  # from here on, a new item enqueues a new drain
    processing = keys.processing(job.id)
    claim = redis.register_script(CLAIM_SCRIPT)
    count, started = 0, time.monotonic()
    items = redis.lrange(processing, 0, -1)  # left by an earlier run of this job that died
    while True:
        if items:
            count += store(items)
            redis.delete(processing)
            if SHUTDOWN.is_set() or time.monotonic() - started >= DRAIN_BUDGET:
                request_drain(redis, make_queues(redis)[job.origin], keys, drain_job)
                return count
        items = claim(keys=[keys.buffer, processing], args=[claim_size])
        if not items:
            return count


def store_isolating(redis, keys: BufferKeys, items: list, store: Callable, on_dead_letter=None, finish=None) -> list:
    """Run `store(items)` in one transaction; if it fails, store item by item and set aside the bad ones.

    Returns the results of the `store` calls that committed. A transient error (the database is away,
    the job timed out) is raised as it is: the job fails, RQ retries it, the claim is kept. Items are buffer
    entries as read (bytes) or already parsed (an import's envelopes). An item
    that fails alone goes to the dead-letter list with its error, and `on_dead_letter(item, error)` runs.
    `finish(results, set_aside)` records the claim's outcome: in the claim's own transaction, or after
    the items were stored one by one, in a transaction of its own.
    """
    try:
        with db.atomic():
            results = [store(items)]
            if finish is not None:
                finish(results, 0)
            return results
    except (*TRANSIENT_ERRORS, ClaimTaken):
        raise
    except Exception:
        logger.exception("storing a claim of %d items from %s failed; storing them one by one", len(items), keys.buffer)
    results, set_aside = [], 0
    for item in items:
        try:
            with db.atomic():
                results.append(store([item]))
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:
            set_aside += 1
            logger.error("an item of %s could not be stored (%s); kept in %s", keys.buffer, error, keys.dead_letter)
            text = item.decode(errors="replace") if isinstance(item, bytes) else orjson.dumps(item).decode()
            redis.rpush(keys.dead_letter, orjson.dumps({"item": text, "error": str(error), "at": time.time()}))
            if on_dead_letter is not None:
                on_dead_letter(item, error)
    if finish is not None:
        with db.atomic():
            finish(results, set_aside)
    return results


def recover(redis, queue, keys: BufferKeys, drain_job: Callable) -> bool:
    """Give claims of drain jobs that are gone back to the buffer, and drain a buffer no job is coming for.

    One worker sweeps a buffer every SWEEP_EVERY seconds; returns False when another one just did.
    """
    if not redis.set(keys.sweep_lock, 1, nx=True, ex=SWEEP_EVERY):
        return False
    for key in redis.scan_iter(match=keys.processing_pattern, count=100):
        job_id = key.decode().rsplit(":", 1)[-1]
        if not job_is_alive(redis, job_id):
            logger.warning("giving the claim of gone job %s back to %s", job_id, keys.buffer)
            redis.eval(ADOPT_SCRIPT, 2, key, keys.buffer)
    request_drain(redis, queue, keys, drain_job)
    return True


def job_is_alive(redis, job_id: str) -> bool:
    """Tell whether a job is still going to run (queued, running, scheduled or waiting)."""
    try:
        status = Job.fetch(job_id, connection=redis).get_status()
    except NoSuchJobError:
        return False
    return status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
