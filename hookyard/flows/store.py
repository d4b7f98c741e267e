"""Storing flow events (worker side): log each one, fan out the originals as `flow.<event>`.

The drain job claims up to CLAIM_SIZE buffered events at a time and stores them in one transaction:
each is logged, and each original is published (the outbound event and its deliveries), so the log
and the fan-out commit together. A claim may be stored twice (a worker died after committing): an
event's id is fixed by the request, so the second time finds it logged and does nothing. Two copies
of one sender event (same dedupe key) race on a unique index; the loser is logged as a duplicate of
the winner and not published.
"""

import datetime
import logging
from dataclasses import dataclass, field

import orjson

from hookyard.core.clock import utcnow
from hookyard.core.credentials import new_public_id
from hookyard.core.db import db
from hookyard.core.queues import TRANSIENT_ERRORS
from hookyard.flows.buffer import FlowKeys
from hookyard.outbound.event_types import subscribed
from hookyard.outbound.publish import publish_new
from models import Endpoint, Flow, FlowEvent

logger = logging.getLogger(__name__)

CLAIM_SIZE = 500


@dataclass
class Outcome:
    stored: int = 0
    published: int = 0
    duplicates: list = field(default_factory=list)


def parse_item(item: bytes) -> dict:
    """Read a buffer item: a header line naming the event it duplicates (or nothing), then the envelope."""
    header, _, body = item.partition(b"\n")
    envelope = orjson.loads(body)
    envelope["duplicate_of"] = header.decode() or None
    return envelope


class _Subscribers:
    """Each organization's active endpoints, read once per claim."""

    def __init__(self):
        self.endpoints: dict[int, list[Endpoint]] = {}

    def __call__(self, organization_id: int, event_type: str) -> list[Endpoint]:
        if organization_id not in self.endpoints:
            self.endpoints[organization_id] = list(Endpoint.select().where(
                (Endpoint.organization == organization_id) & (Endpoint.active == True)))  # noqa: E712
        return [e for e in self.endpoints[organization_id] if subscribed(e.events, event_type)]


def store_flow_events(envelopes: list[dict], max_attempts: int) -> Outcome:
    """Log and fan out a claim of flow events in one transaction (the caller's), a few statements for all."""
    outcome, subscribers = Outcome(), _Subscribers()
    ids = [envelope["id"] for envelope in envelopes]
    stored = {row.id for row in FlowEvent.select(FlowEvent.id).where(FlowEvent.id.in_(ids))}
    flow_ids = list({envelope["flow_id"] for envelope in envelopes})
    flows = {row.id for row in Flow.select(Flow.id).where(Flow.id.in_(flow_ids))}
    fresh = []
    for envelope in envelopes:
        if envelope["id"] in stored:
            continue  # logged by an earlier run of this claim
        if envelope["flow_id"] not in flows:
            # Deleted after this event was accepted (another web process still had it cached): the
            # flow's log and subscribers' fan-out went with it, so there is nowhere to store it.
            logger.warning("dropping event %s: flow %s was deleted", envelope["id"], envelope["flow_id"])
            continue
        stored.add(envelope["id"])
        fresh.append(envelope)
    if not fresh:
        return outcome
    now = utcnow()
    rows = {envelope["id"]: _log_row(envelope, now) for envelope in fresh}
    originals = [envelope for envelope in fresh if envelope.get("duplicate_of") is None]
    plans = {}  # flow event id -> (outbound event id, type, subscribers), for originals anyone subscribes to
    for envelope in originals:
        event_type = f"flow.{envelope['event']}"
        targets = subscribers(envelope["organization_id"], event_type)
        if targets:
            plans[envelope["id"]] = (new_public_id("evt_"), event_type, targets)
    inserted = set()
    if originals:
        # The unique index on (flow, dedupe key) among originals decides: RETURNING names the winners.
        inserted = {event_id for (event_id,) in FlowEvent.insert_many([
            {**rows[envelope["id"]], "duplicate": False, "status": "processed",
             "outbound_event_id": plans[envelope["id"]][0] if envelope["id"] in plans else None}
            for envelope in originals]).on_conflict_ignore().returning(FlowEvent.id).tuples().execute()}
    # Copies Redis already knew to be duplicates, and originals that lost the race on the unique index.
    losers = [envelope for envelope in originals if envelope["id"] not in inserted]
    duplicates = [envelope for envelope in fresh if envelope.get("duplicate_of") is not None] + losers
    _point_to_winners(losers)
    if duplicates:
        FlowEvent.insert_many([{**rows[envelope["id"]], "duplicate": True, "duplicate_of": envelope["duplicate_of"],
                                "status": "duplicate", "outbound_event_id": None}
                               for envelope in duplicates]).execute()
    published = [envelope for envelope in originals if envelope["id"] in inserted and envelope["id"] in plans]
    publish_new([(plans[envelope["id"]][0], envelope["organization_id"], plans[envelope["id"]][1],
                  _outbound_data(envelope, rows[envelope["id"]]["received_at"]), plans[envelope["id"]][2])
                 for envelope in published], max_attempts)
    outcome.stored, outcome.published = len(fresh), len(published)
    return outcome


def _log_row(envelope: dict, now: datetime.datetime) -> dict:
    received_at = datetime.datetime.fromisoformat(envelope["received_at"])
    return {"id": envelope["id"], "organization": envelope["organization_id"], "flow": envelope["flow_id"],
            "event": envelope["event"], "source": envelope["source"], "verified": envelope["verified"],
            "dedupe_key": envelope["dedupe_key"], "data": envelope["data"], "received_at": received_at,
            "sender_timestamp": envelope.get("timestamp"),
            "received_minute": int(received_at.replace(tzinfo=datetime.UTC).timestamp()) // 60,
            "processed_at": now, "latency_ms": max(0, int((now - received_at).total_seconds() * 1000))}


def _point_to_winners(losers: list[dict]) -> None:
    """Set each losing copy's `duplicate_of` to the original its dedupe key already names."""
    if not losers:
        return
    winners = dict(((flow_id, key), event_id) for event_id, flow_id, key in FlowEvent.select(
        FlowEvent.id, FlowEvent.flow, FlowEvent.dedupe_key).where(
        FlowEvent.flow.in_({envelope["flow_id"] for envelope in losers})
        & FlowEvent.dedupe_key.in_({envelope["dedupe_key"] for envelope in losers})
        & (FlowEvent.duplicate == False)).tuples())  # noqa: E712
    for envelope in losers:
        envelope["duplicate_of"] = winners.get((envelope["flow_id"], envelope["dedupe_key"]))


def _outbound_data(envelope: dict, received_at: datetime.datetime) -> dict:
    """What a `flow.<event>` delivery carries: the sender's payload untouched, and where it came from."""
    return {"flow_id": envelope["flow_id"], "flow_event_id": envelope["id"], "event": envelope["event"],
            "source": envelope["source"], "verified": envelope["verified"],
            "received_at": received_at.isoformat(timespec="milliseconds") + "Z", "timestamp": envelope.get("timestamp"),
            "payload": envelope["data"]}


def store_claim(redis, prefix: str, dead_letter: str, items: list[bytes], max_attempts: int) -> Outcome:
    """Store claimed items in one transaction; fall back to one at a time to set a bad one aside."""
    try:
        envelopes = [parse_item(item) for item in items]
        with db.atomic():
            return store_flow_events(envelopes, max_attempts)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("storing a claim of %d flow events failed; storing them one by one", len(items))
    outcome = Outcome()
    for item in items:
        try:
            with db.atomic():
                single = store_flow_events([parse_item(item)], max_attempts)
            outcome.stored += single.stored
            outcome.published += single.published
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:
            logger.error("a flow event could not be stored (%s); kept in %s", error, dead_letter)
            redis.rpush(dead_letter, orjson.dumps({"item": item.decode(errors="replace"), "error": str(error)}))
            _release_claim(redis, prefix, item)
    return outcome


def _release_claim(redis, prefix: str, item: bytes) -> None:
    """Let a sender's retry of a set-aside event through, instead of answering it as a duplicate."""
    try:
        envelope = parse_item(item)
        if envelope.get("dedupe_key") and not envelope.get("duplicate_of"):
            key = FlowKeys(prefix, envelope["flow_id"]).claim(envelope["dedupe_key"])
            if redis.get(key) == envelope["id"].encode():
                redis.delete(key)
    except Exception:  # an item too broken to read has no claim we could find
        logger.warning("could not release the dedupe claim of a set-aside flow event")
