"""The Redis side of flow ingress, shared by the web process (accept) and the worker (drain).

A request appends its event to one buffer shared by every flow, in the same Lua script that checks
and sets the event's dedupe claim; the worker claims buffered events in chunks into a processing
list of its own (signal_buffer.CLAIM_SCRIPT), stores them, then deletes that list. A worker that
dies leaves its claim behind, and the sweep gives it back to the buffer (signal_buffer.ADOPT_SCRIPT).
"""

DRAIN_FLAG_TTL = 60

ACCEPT_SCRIPT = r"""
-- KEYS: claim key ('' when the event carries no id), buffer, drain flag
-- ARGV: event id, claim ttl, envelope, drain flag ttl
local earlier = false
if KEYS[1] ~= '' then
  earlier = redis.call('GET', KEYS[1])
  if not earlier then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
end
-- An item is a header line (the event it duplicates, or nothing), a newline, then the JSON envelope.
redis.call('RPUSH', KEYS[2], (earlier or '') .. '\n' .. ARGV[3])
local drain = 0
if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then drain = 1 end
return {earlier or '', drain}
"""

RATE_SCRIPT = """
-- KEYS: this second's request counter of a flow. Returns the count, this request included.
local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 2)
return count
"""


class FlowBufferKeys:
    """The Redis keys of the flow buffer, shared by every flow: web appends, worker drains."""

    def __init__(self, prefix: str):
        self.buffer = f"{prefix}:flows:buffer"
        self.drain_flag = f"{prefix}:flows:drain-pending"
        self.processing_pattern = f"{prefix}:flows:processing:*"
        self.dead_letter = f"{prefix}:flows:dead-letter"
        self.prefix = prefix

    def processing(self, job_id: str) -> str:
        return f"{self.prefix}:flows:processing:{job_id}"


class FlowKeys:
    """The Redis keys of one flow."""

    def __init__(self, prefix: str, flow_id: str):
        self.base = f"{prefix}:flow:{flow_id}"
        self.shared = FlowBufferKeys(prefix)

    def rate(self, second: int) -> str:
        return f"{self.base}:rate:{second}"

    def rejected(self, minute: int) -> str:
        return f"{self.base}:rejected:{minute}"

    def claim(self, dedupe_key: str) -> str:
        return f"{self.base}:seen:{dedupe_key}"
