"""The Redis side of signal ingestion, shared by the web process (accept) and the worker (claim).

A request makes one Redis round trip: one Lua script checks the organization's limits, counts the
signals, appends them to the ingest buffer, reads whether their identities are already linked, and
says whether a drain job must be enqueued. The worker claims signals from the buffer in chunks into
a processing list of its own, stores them, then deletes that list: a worker that dies leaves its
claim behind, and the next run of the job (RQ re-runs abandoned jobs) stores it again, idempotently.
"""

import datetime
import time

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

CLAIM_SCRIPT = """
-- Move up to ARGV[1] envelopes from the buffer (KEYS[1]) to a processing list (KEYS[2]), atomically.
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], #items, -1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
return items
"""

ADOPT_SCRIPT = """
-- Give a dead job's claim (KEYS[1]) back to the front of the buffer (KEYS[2]), in its order: LPUSH
-- reverses what it is given, so push from the last item back.
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

LIMITS_MISSING, PER_SECOND_EXCEEDED, MONTH_EXCEEDED = -1, -2, -3
USAGE_TTL = 3456000  # 40 days: a month's counter outlives its month, for GET /v1/usage
DRAIN_FLAG_TTL = 60


class SignalKeys:
    """The names of Hookyard's signal keys in Redis, under one prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.buffer = f"{prefix}:signals:buffer"
        self.drain_flag = f"{prefix}:signals:drain-pending"
        self.processing_pattern = f"{prefix}:signals:processing:*"
        self.sweep_lock = f"{prefix}:signals:sweep-lock"
        self.dead_letter = f"{prefix}:signals:dead-letter"

    def processing(self, job_id: str) -> str:
        return f"{self.prefix}:signals:processing:{job_id}"

    def limits(self, organization_id: int) -> str:
        return f"{self.prefix}:limits:{organization_id}"

    def usage(self, organization_id: int, period: str) -> str:
        return f"{self.prefix}:usage:{organization_id}:{period}"

    def per_second(self, organization_id: int, second: int) -> str:
        return f"{self.prefix}:rate:{organization_id}:{second}"

    def identities(self, organization_id: int) -> str:
        return f"{self.prefix}:identities:{organization_id}"

    def import_chunks(self, import_id: str) -> str:
        return f"{self.prefix}:imports:{import_id}:chunks"

    def import_meta(self, import_id: str) -> str:
        return f"{self.prefix}:imports:{import_id}"


def usage_period(moment: datetime.datetime | None = None) -> str:
    """Return the usage period (`2026-11`) a moment falls in, in UTC."""
    if moment is None:  # the hot path: every accepted signal asks
        now = time.gmtime()
        return f"{now.tm_year:04d}-{now.tm_mon:02d}"
    return moment.strftime("%Y-%m")


def identity_field(kind: str, value: str) -> str:
    """Return the field under which an identity's lead is cached in the identities hash."""
    return f"{kind}:{value}"


def limits_mapping(raw_signals_per_month, signals_per_second, overages_enabled) -> dict:
    """Return the limits hash as the accept script reads it (-1 means no limit)."""
    return {"month": -1 if raw_signals_per_month is None else raw_signals_per_month,
            "second": -1 if signals_per_second is None else signals_per_second,
            "overages": 1 if overages_enabled else 0}
