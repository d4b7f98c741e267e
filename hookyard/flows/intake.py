"""Receiving a flow request (web side): find the flow, authenticate, rate limit, read, claim, queue.

The order is deliberate. Authentication comes before the rate limit, so a stranger who knows a flow's
URL cannot use up its budget. Signatures are checked over the raw bytes before the body is parsed.
Rejections (400, 401, 404 for a paused flow, 413, 415, 429) are counted per flow and minute in Redis,
for the flow's metrics.

Accepting is one Redis call (the rate limit another), each shared with concurrent requests' calls
under gevent (script_batch.py): a Lua script looks up the sender's id (GitHub delivery, Stripe
event id, Idempotency-Key, body id), claims it if new, appends the event to the flow buffer and says
whether a drain job must be queued. The claim and the event are written together, so a claim never
stands for an event that was not accepted. The worker stores the buffer in chunks (store.py);
its unique index is the truth on dedupe: a copy that slips past Redis (claims expire after
CLAIM_SECONDS) is stored as a duplicate and not fanned out again.
"""

import logging
import re
import threading
import time
from dataclasses import dataclass

import orjson

from hookyard.core.buffer import DRAIN_FLAG_TTL, enqueue_drain
from hookyard.core.clock import utcnow
from hookyard.core.credentials import new_public_id
from hookyard.core.db import briefly_connected
from hookyard.core.errors import (
    ApiError,
    InvalidJson,
    NotFound,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from hookyard.core.greenlets import script_caller
from hookyard.core.jobs import at_least_once
from hookyard.core.jsonbody import is_json_mimetype, parse_json, refuse_nul
from hookyard.core.queues import DEFAULT_QUEUE, INGEST_QUEUE
from hookyard.flows.jobs import drain_flow_events, publish_rate_limited
from hookyard.flows.keys import FlowKeys
from hookyard.flows.signatures import SignatureError, verify_event_signature, verify_github, verify_stripe
from hookyard.flows.sources import FlowMessage, event_name_problem, idempotency_key_problem, read_message
from hookyard.keys.auth import authenticate_api_key
from models import Flow

logger = logging.getLogger(__name__)

CACHE_SECONDS = 2.0
WEBHOOK_ID_SHAPE = re.compile(r"wh_[A-Za-z0-9_-]{8,61}")  # anything else is no flow: never sent to the database
CLAIM_SECONDS = 3 * 86400  # Stripe retries an event for up to three days
REJECTION_TTL = 8 * 86400  # the longest metrics window is 7 days

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


@dataclass(frozen=True)
class FlowRecord:
    """A flow as the hot path needs it, with its secrets opened."""

    id: str
    organization_id: int
    webhook_id: str
    secret: str | None
    github_secret: str | None
    stripe_secret: str | None
    rate_limit_per_second: int
    active: bool


_cache: dict[str, tuple[float, FlowRecord | None]] = {}
_lock = threading.Lock()


def find_flow(webhook_id: str, box) -> FlowRecord:
    """Return the flow answering at /webhooks/<webhook_id> (cached a few seconds), or answer 404."""
    now = time.monotonic()
    cached = _cache.get(webhook_id)
    if cached is None or cached[0] <= now:
        with briefly_connected():
            row = Flow.get_or_none(Flow.webhook_id == webhook_id) if WEBHOOK_ID_SHAPE.fullmatch(webhook_id) else None
        record = (
            None
            if row is None
            else FlowRecord(
                row.id,
                row.organization_id,
                row.webhook_id,
                *(
                    box.open(sealed) if sealed else None
                    for sealed in (row.secret_encrypted, row.github_secret_encrypted, row.stripe_secret_encrypted)
                ),
                row.rate_limit_per_second,
                row.active,
            )
        )
        with _lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[webhook_id] = (now + CACHE_SECONDS, record)
        cached = _cache[webhook_id]
    if cached[1] is None:
        raise NotFound("No flow answers at this URL.")
    return cached[1]


def forget(webhook_id: str) -> None:
    """Drop a flow from this process's cache after it changed."""
    with _lock:
        _cache.pop(webhook_id, None)


class FlowScripts:
    """A process's callers of the flow scripts; concurrent requests share their round trips."""

    def __init__(self, redis):
        self.rate = script_caller(redis, RATE_SCRIPT, "flow_rate")
        self.accept = script_caller(redis, ACCEPT_SCRIPT, "flow_accept")


def check_rate(scripts: FlowScripts, keys: FlowKeys, flow: FlowRecord) -> None:
    """Admit a request while this second's count is under the flow's limit; else answer 429."""
    count = scripts.rate([keys.rate(int(time.time()))], [])
    if count > flow.rate_limit_per_second:
        raise RateLimited(
            f"This flow accepts {flow.rate_limit_per_second} events per second; try again in a second.", retry_after=1
        )


def record_rejection(redis, keys: FlowKeys, status: int) -> int:
    """Count a refused request for the flow's metrics (per minute and status code); return this minute's count."""
    minute = int(time.time()) // 60
    with redis.pipeline(transaction=False) as pipe:
        pipe.hincrby(keys.rejected(minute), str(status), 1)
        pipe.expire(keys.rejected(minute), REJECTION_TTL)
        count, _ = pipe.execute()
    return count


def announce_rate_limited(queues, flow: FlowRecord) -> None:
    """Queue the `flow.rate_limited` event for the first refusal of a minute; a failure to queue only logs."""
    minute = int(time.time()) // 60
    try:
        queues[DEFAULT_QUEUE].enqueue(
            publish_rate_limited,
            flow.id,
            flow.organization_id,
            minute,
            flow.rate_limit_per_second,
            retry=at_least_once(),  # its idempotency key makes a second run a no-op
        )
    except Exception:  # the 429 is the answer that matters; the event is a courtesy
        logger.exception("could not queue flow.rate_limited for flow %s", flow.id)


def authenticate(flow: FlowRecord, headers, raw: bytes, *, trusted: bool = False) -> bool:
    """Check every signature present and the API key; return whether a signature verified the body.

    A verified GitHub or Stripe signature authenticates on its own (those senders cannot add headers).
    `trusted` (the playground, behind management auth) needs no API key and no X-Event-Signature.
    """
    github, stripe = headers.get("X-Hub-Signature-256"), headers.get("Stripe-Signature")
    custom = headers.get("X-Event-Signature")
    try:
        if github is not None:
            verify_github(_needed(flow.github_secret, "X-Hub-Signature-256", "github_secret"), raw, github)
        if stripe is not None:
            verify_stripe(_needed(flow.stripe_secret, "Stripe-Signature", "stripe_secret"), raw, stripe)
        if custom is not None:
            verify_event_signature(_needed(flow.secret, "X-Event-Signature", "secret"), raw, custom)
    except SignatureError as error:
        raise Unauthorized(str(error), code="invalid_signature") from None
    if github is not None or stripe is not None:
        return True
    if not trusted:
        key = headers.get("X-API-Key")
        if not key:
            raise Unauthorized(
                "Send a flow API key in X-API-Key, or sign the request as GitHub or Stripe do with "
                "this flow's github_secret or stripe_secret."
            )
        record = authenticate_api_key(key.strip(), headers.get("X-Api-Secret"), "flow")
        if record.organization_id != flow.organization_id:
            raise Unauthorized("The API key is not valid.")  # the same answer as an unknown key
        if flow.secret is not None and custom is None:
            raise Unauthorized(
                "This flow has a secret: send X-Event-Signature, the hex HMAC-SHA256 of the body keyed by it.",
                code="signature_required",
            )
    return custom is not None


def _needed(secret: str | None, header: str, field: str) -> str:
    if secret is None:
        raise SignatureError(
            f"{header} was sent, but this flow has no {field} to check it against: set one with PATCH /v1/flows/<id>."
        )
    return secret


def read_body(raw: bytes, mimetype: str, headers):
    """Parse a flow request body: JSON, or GitHub's form encoding (`payload=<json>`)."""
    if mimetype == "application/x-www-form-urlencoded" and headers.get("X-GitHub-Event"):
        from urllib.parse import parse_qs

        try:
            payloads = parse_qs(raw.decode(), strict_parsing=True).get("payload")
        except (UnicodeDecodeError, ValueError):
            payloads = None
        if not payloads:
            raise InvalidJson("A form-encoded GitHub delivery must carry its JSON in the `payload` field.")
        raw = payloads[0].encode()
    elif not is_json_mimetype(mimetype):
        raise UnsupportedMediaType(f"Send the body as application/json (Content-Type was {mimetype or 'none'}).")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidJson("The request body must be a JSON object.")
    refuse_nul(body, raw)
    return body


def read(headers, body) -> FlowMessage:
    """Return the message a body carries, or answer 400 naming what is missing."""
    problem = idempotency_key_problem(headers)
    if problem:
        raise ValidationFailed({"Idempotency-Key": [problem]}, message=problem)
    message = read_message(headers, body)
    problem = event_name_problem(message.event)
    if problem:
        raise ValidationFailed({"event": [problem]}, message=problem)
    return message


def accept(
    scripts: FlowScripts, queues, keys: FlowKeys, flow: FlowRecord, message: FlowMessage, verified: bool
) -> dict:
    """Append the event to the flow buffer and answer for it: queued, or a duplicate of an earlier one."""
    event_id = new_public_id("fev_")
    envelope = orjson.dumps(
        {
            "id": event_id,
            "flow_id": flow.id,
            "organization_id": flow.organization_id,
            "event": message.event,
            "source": message.source,
            "data": message.data,
            "dedupe_key": message.dedupe_key,
            "verified": verified,
            "timestamp": message.timestamp,
            "received_at": utcnow().isoformat(),
        }
    )
    claim = keys.claim(message.dedupe_key) if message.dedupe_key else ""
    earlier, drain = scripts.accept(
        [claim, keys.shared.buffer, keys.shared.drain_flag], [event_id, CLAIM_SECONDS, envelope, DRAIN_FLAG_TTL]
    )
    if drain:
        enqueue_drain(queues[INGEST_QUEUE], drain_flow_events)
    if earlier:
        return {
            "id": event_id,
            "status": "duplicate",
            "event": message.event,
            "duplicate": True,
            "duplicate_of": earlier.decode(),
        }
    return {"id": event_id, "status": "queued", "event": message.event}


def receive(
    redis,
    scripts: FlowScripts,
    queues,
    prefix: str,
    flow: FlowRecord,
    raw_reader,
    mimetype: str,
    headers,
    *,
    trusted: bool = False,
) -> dict:
    """Run a request through a flow; raise ApiError for a refusal, which is counted for the flow's metrics."""
    keys = FlowKeys(prefix, flow.id)
    try:
        if not flow.active:
            raise NotFound("This flow is paused (active: false); PATCH it to resume.", code="flow_paused")
        raw = raw_reader()
        verified = authenticate(flow, headers, raw, trusted=trusted)
        # Counted after authentication: a stranger who knows the URL cannot use up the flow's budget.
        check_rate(scripts, keys, flow)
        message = read(headers, read_body(raw, mimetype, headers))
    except ApiError as error:
        first_of_minute = record_rejection(redis, keys, error.status) == 1
        if first_of_minute and isinstance(error, RateLimited):
            announce_rate_limited(queues, flow)
        raise
    return accept(scripts, queues, keys, flow, message, verified)
