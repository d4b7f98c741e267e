"""Accepting signals in the web process: ids, limits and the ingest buffer, in one Redis round trip.

Never stores a signal: that is the worker's job. Everything here is fast and bounded.
"""

import calendar
import datetime
import threading
import time

import orjson

from hookyard.core.buffer import DRAIN_FLAG_TTL, enqueue_drain
from hookyard.core.db import briefly_connected, db
from hookyard.core.errors import RateLimited, ServiceUnavailable
from hookyard.core.greenlets import script_caller
from hookyard.signals.fields import SignalFields
from hookyard.signals.jobs import drain_signals, enqueue_import
from hookyard.signals.keys import USAGE_TTL, SignalKeys, identity_field, limits_mapping, usage_period
from models import IdBlock, RateLimit, Signal

ACCEPT_SCRIPT = """
-- KEYS: limits hash, month usage counter, per-second counter, buffer list, drain flag, identities hash
-- ARGV: n, push (1/0), check per-second (1/0), drain flag ttl, then per signal: envelope, identity
--       field, identity field, has email (1/0)
local limits = redis.call('HMGET', KEYS[1], 'month', 'second', 'overages')
if not limits[1] then return {-1} end
local n = tonumber(ARGV[1])
local push = ARGV[2] == '1'
local per_second = tonumber(limits[2])
if ARGV[3] == '1' and per_second >= 0 then
  -- A request is let through while the second's count is under the limit: a batch larger than
  -- the limit can pass once a second instead of never.
  if tonumber(redis.call('GET', KEYS[3]) or '0') >= per_second then return {-2} end
end
local month = tonumber(limits[1])
if month >= 0 and limits[3] ~= '1' then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used + n > month then return {-3, used} end
end
redis.call('INCRBY', KEYS[2], n)
redis.call('EXPIRE', KEYS[2], 3456000)
if ARGV[3] == '1' and per_second >= 0 then
  redis.call('INCRBY', KEYS[3], n)
  redis.call('EXPIRE', KEYS[3], 2)
end
local result = {0}
local envelopes = {}
for i = 0, n - 1 do
  local at = 5 + i * 4
  if push then envelopes[#envelopes + 1] = ARGV[at] end
  local cold = 0
  if ARGV[at + 3] ~= '1' then
    cold = 1
    for _, field in ipairs({ARGV[at + 1], ARGV[at + 2]}) do
      if field ~= '' and redis.call('HEXISTS', KEYS[6], field) == 1 then cold = 0 end
    end
  end
  result[i + 2] = cold
  if #envelopes == 1000 then
    redis.call('RPUSH', KEYS[4], unpack(envelopes))
    envelopes = {}
  end
end
if #envelopes > 0 then redis.call('RPUSH', KEYS[4], unpack(envelopes)) end
if push and redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[4]) then result[1] = 1 end
return result
"""

LIMITS_MISSING, PER_SECOND_EXCEEDED, MONTH_EXCEEDED = -1, -2, -3  # the script's refusals
IMPORT_META_TTL = 30 * 24 * 3600
MONTH_LIMIT_MESSAGE = "Raw signal limit reached. Upgrade plan or enable overages"


class IdAllocator:
    """Hand out signal ids from blocks reserved in the database (hi/lo), thread-safely."""

    def __init__(self, name: str = "signal", block_size: int = 1000):
        self.name = name
        self.block_size = block_size
        self.lock = threading.Lock()
        self.next_id = 0
        self.end = 0

    def take(self, count: int) -> int:
        """Return the first of `count` consecutive, never-used ids."""
        if count >= self.block_size:
            return self._allocate(count)
        with self.lock:
            if self.end - self.next_id < count:
                self.next_id = self._allocate(self.block_size)
                self.end = self.next_id + self.block_size
            first = self.next_id
            self.next_id += count
            return first

    def _allocate(self, count: int) -> int:
        # Never inside a transaction: a rollback would hand the block out again while this process uses it.
        if db.in_transaction():
            raise RuntimeError("signal ids are reserved outside any transaction")
        with briefly_connected():
            return IdBlock.allocate(self.name, count)


class SignalIntake:
    """The web process's side of ingestion: accept checked signals into the buffer, or refuse them."""

    def __init__(self, redis, keys: SignalKeys, queue, allocator: IdAllocator | None = None):
        self.redis = redis
        self.keys = keys
        self.queue = queue
        self.allocator = allocator or IdAllocator()
        self.accept_script = script_caller(redis, ACCEPT_SCRIPT, "signal_accept")
        self.reloading: dict[int, threading.Lock] = {}

    def accept(
        self,
        organization_id: int,
        items: list[tuple[bytes, SignalFields]],
        *,
        push: bool = True,
        per_second: bool = True,
    ) -> list[bool]:
        """Count `items` against the limits and append their envelopes to the buffer.

        Returns each item's cold-storage flag at receipt. Raises RateLimited when a limit refuses them,
        in which case nothing was counted or queued.
        """
        now = time.time()
        keys = [
            self.keys.limits(organization_id),
            self.keys.usage(organization_id, usage_period()),
            self.keys.per_second(organization_id, int(now)),
            self.keys.buffer,
            self.keys.drain_flag,
            self.keys.identities(organization_id),
        ]
        args = [len(items), int(push), int(per_second), DRAIN_FLAG_TTL]
        for envelope, fields in items:
            identity_fields = [identity_field(kind, value) for kind, value in fields.identities]
            identity_fields += [""] * (2 - len(identity_fields))
            args += [envelope if push else b"", *identity_fields, int(fields.email is not None)]
        result = self.accept_script(keys, args)
        if result[0] == LIMITS_MISSING:
            self.reload_limits(organization_id)
            result = self.accept_script(keys, args)
            if result[0] == LIMITS_MISSING:  # gone again at once: Redis is losing data (eviction, flushes)
                raise ServiceUnavailable("The queue (Redis) is losing data; nothing was accepted. Retry later.")
        if result[0] == PER_SECOND_EXCEEDED:
            raise RateLimited("Signal rate limit reached for this second; retry shortly.", retry_after=1)
        if result[0] == MONTH_EXCEEDED:
            raise RateLimited(MONTH_LIMIT_MESSAGE, retry_after=seconds_to_next_month(now))
        if result[0] == 1:
            enqueue_drain(self.queue, drain_signals)
        return [bool(flag) for flag in result[1:]]

    def queue_import(
        self, import_id: str, organization_id: int, chunks: list[bytes], *, total: int, failed: int
    ) -> None:
        """Store a bulk import's chunks and its import job in one Redis transaction."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.multi()
            chunks_key = self.keys.import_chunks(import_id)
            for start in range(0, len(chunks), 100):
                pipe.rpush(chunks_key, *chunks[start : start + 100])
            pipe.hset(
                self.keys.import_meta(import_id),
                mapping={
                    "organization_id": organization_id,
                    "total": total,
                    "chunks": len(chunks),
                    "failed": failed,
                    "created_at": time.time(),
                },
            )
            pipe.expire(self.keys.import_meta(import_id), IMPORT_META_TTL)
            enqueue_import(self.queue, import_id, pipeline=pipe)
            pipe.execute()

    def refund(self, organization_id: int, count: int) -> None:
        """Give back usage counted for signals that could not be queued after all."""
        self.redis.decrby(self.keys.usage(organization_id, usage_period()), count)

    def reload_limits(self, organization_id: int) -> None:
        """Load missing limits once per process: the requests that found them missing at once wait for it."""
        with self.reloading.setdefault(organization_id, threading.Lock()):
            if not self.redis.exists(self.keys.limits(organization_id)):
                self.load_limits(organization_id)

    def load_limits(self, organization_id: int) -> None:
        """Copy an organization's limits from the database to Redis, where the accept script reads them.

        Their absence means Redis has not seen this organization since it started empty (a first
        signal, or a Redis that lost its data), so this month's usage is reseeded from the database.
        """
        limits = RateLimit.for_organization(organization_id)
        # The count first: while the limits are missing the accept script counts nothing, so no request
        # can create the usage key (and win the SET NX) with a count that starts from zero.
        self.usage(organization_id)
        self.redis.hset(
            self.keys.limits(organization_id),
            mapping=limits_mapping(limits.raw_signals_per_month, limits.signals_per_second, limits.overages_enabled),
        )

    def usage(self, organization_id: int) -> int:
        """Return this month's count of accepted signals, reseeding a lost counter from the stored rows."""
        period = usage_period()
        key = self.keys.usage(organization_id, period)
        used = self.redis.get(key)
        if used is not None:
            return int(used)
        month_start = datetime.datetime.strptime(period, "%Y-%m")
        stored = (
            Signal.select()
            .where((Signal.organization == organization_id) & (Signal.received_at >= month_start))
            .count()
        )
        # NX: a request that counted in the meantime already made the key, which then stands.
        self.redis.set(key, stored, nx=True, ex=USAGE_TTL)
        return int(self.redis.get(key) or 0)


def envelope(signal_id: int, organization_id: int, source: str, received_at_ms: int, payload_json: bytes) -> bytes:
    """Return the buffer entry for one signal, splicing the payload's JSON text in as it came."""
    head = orjson.dumps({"id": signal_id, "org": organization_id, "src": source, "at": received_at_ms})
    return head[:-1] + b',"p":' + payload_json + b"}"


def seconds_to_next_month(now: float) -> int:
    """Return the seconds until the month's usage counter starts again (UTC)."""
    moment = time.gmtime(now)
    year, month = (moment.tm_year + 1, 1) if moment.tm_mon == 12 else (moment.tm_year, moment.tm_mon + 1)
    return max(1, int(calendar.timegm((year, month, 1, 0, 0, 0)) - now))
