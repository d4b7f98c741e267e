"""Storing flow events (worker side): log each one, fan out the originals as `flow.<event>`.

The drain job (jobs.py) claims up to CLAIM_SIZE buffered events at a time and stores them in one transaction:
each is logged, and each original is published (the outbound event and its deliveries), so the log
and the fan-out commit together. A claim may be stored twice (a worker died after committing): an
event's id is fixed by the request, so the second time finds it logged and does nothing. Two copies
of one sender event (same dedupe key) race on a unique index; the loser is logged as a duplicate of
the winner and not published.
"""

import datetime
import logging
from dataclasses import dataclass

import orjson

from hookyard.core.clock import iso_z, utcnow
from hookyard.core.credentials import new_public_id
from hookyard.flows.keys import FlowKeys
from hookyard.outbound.publish import SubscriberCache, publish_new_events
from models import Flow, FlowEvent

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    stored: int = 0
    published: int = 0


def parse_item(item: bytes) -> dict:
    """Read a buffer item: a header line naming the event it duplicates (or nothing), then the envelope."""
    header, _, body = item.partition(b"\n")
    envelope = orjson.loads(body)
    envelope["duplicate_of"] = header.decode() or None
    return envelope


def store_flow_events(envelopes: list[dict], max_attempts: int) -> Outcome:
    """Log and fan out a claim of flow events in one transaction (the caller's), a few statements for all."""
    fresh = _fresh(envelopes)
    if not fresh:
        return Outcome()
    now = utcnow()
    rows = {envelope["id"]: _log_row(envelope, now) for envelope in fresh}
    originals = [envelope for envelope in fresh if envelope.get("duplicate_of") is None]
    plans = _plan_fan_out(originals)
    inserted = _log_originals(originals, rows, plans)
    # Copies Redis already knew to be duplicates, and originals that lost the race on the unique index.
    losers = [envelope for envelope in originals if envelope["id"] not in inserted]
    duplicates = [envelope for envelope in fresh if envelope.get("duplicate_of") is not None] + losers
    _point_to_winners(losers)
    if duplicates:
        FlowEvent.insert_many([_duplicate_row(rows[envelope["id"]], envelope) for envelope in duplicates]).execute()
    published = [envelope for envelope in originals if envelope["id"] in inserted and envelope["id"] in plans]
    events = []
    for envelope in published:
        event_id, event_type, targets = plans[envelope["id"]]
        data = _outbound_data(envelope, rows[envelope["id"]]["received_at"])
        events.append((event_id, envelope["organization_id"], event_type, data, targets))
    publish_new_events(events, max_attempts)
    return Outcome(stored=len(fresh), published=len(published))


def _fresh(envelopes: list[dict]) -> list[dict]:
    """Return the envelopes to store: not logged by an earlier run of this claim, of a flow that still exists."""
    stored = set(FlowEvent.select(FlowEvent.id).where(FlowEvent.id.in_([e["id"] for e in envelopes])).scalars())
    flows = set(Flow.select(Flow.id).where(Flow.id.in_({e["flow_id"] for e in envelopes})).scalars())
    fresh = []
    for envelope in envelopes:
        if envelope["id"] in stored:
            continue
        if envelope["flow_id"] not in flows:
            # Deleted after this event was accepted (another web process still had it cached): the
            # flow's log and subscribers' fan-out went with it, so there is nowhere to store it.
            logger.warning("dropping event %s: flow %s was deleted", envelope["id"], envelope["flow_id"])
            continue
        stored.add(envelope["id"])
        fresh.append(envelope)
    return fresh


def _plan_fan_out(originals: list[dict]) -> dict:
    """Return flow event id -> (outbound event id, type, endpoints), for the originals anyone subscribes to."""
    subscribers, plans = SubscriberCache(), {}
    for envelope in originals:
        event_type = f"flow.{envelope['event']}"
        targets = subscribers(envelope["organization_id"], event_type)
        if targets:
            plans[envelope["id"]] = (new_public_id("evt_"), event_type, targets)
    return plans


def _log_originals(originals: list[dict], rows: dict, plans: dict) -> set[str]:
    """Log the originals; return the ids that won the unique index on (flow, dedupe key)."""
    if not originals:
        return set()
    logged = [
        {**rows[envelope["id"]], "duplicate": False, "status": "processed",
         "outbound_event_id": plans[envelope["id"]][0] if envelope["id"] in plans else None}
        for envelope in originals
    ]  # fmt: skip
    # RETURNING names the rows this statement inserted: the winners.
    inserted = FlowEvent.insert_many(logged).on_conflict_ignore().returning(FlowEvent.id).tuples().execute()
    return {event_id for (event_id,) in inserted}


def _duplicate_row(row: dict, envelope: dict) -> dict:
    return {**row, "duplicate": True, "duplicate_of": envelope["duplicate_of"], "status": "duplicate",
            "outbound_event_id": None}  # fmt: skip


def _log_row(envelope: dict, now: datetime.datetime) -> dict:
    received_at = datetime.datetime.fromisoformat(envelope["received_at"])
    return {
        "id": envelope["id"],
        "organization": envelope["organization_id"],
        "flow": envelope["flow_id"],
        "event": envelope["event"],
        "source": envelope["source"],
        "verified": envelope["verified"],
        "dedupe_key": envelope["dedupe_key"],
        "data": envelope["data"],
        "received_at": received_at,
        "sender_timestamp": envelope.get("timestamp"),
        "received_minute": int(received_at.replace(tzinfo=datetime.UTC).timestamp()) // 60,
        "processed_at": now,
        "latency_ms": max(0, int((now - received_at).total_seconds() * 1000)),
    }


def _point_to_winners(losers: list[dict]) -> None:
    """Set each losing copy's `duplicate_of` to the original its dedupe key already names."""
    if not losers:
        return
    winners = dict(
        ((flow_id, key), event_id)
        for event_id, flow_id, key in FlowEvent.select(FlowEvent.id, FlowEvent.flow, FlowEvent.dedupe_key)
        .where(
            FlowEvent.flow.in_({envelope["flow_id"] for envelope in losers})
            & FlowEvent.dedupe_key.in_({envelope["dedupe_key"] for envelope in losers})
            & (FlowEvent.duplicate == False)  # noqa: E712
        )
        .tuples()
    )
    for envelope in losers:
        envelope["duplicate_of"] = winners.get((envelope["flow_id"], envelope["dedupe_key"]))


def _outbound_data(envelope: dict, received_at: datetime.datetime) -> dict:
    """What a `flow.<event>` delivery carries: the sender's payload untouched, and where it came from."""
    return {
        "flow_id": envelope["flow_id"],
        "flow_event_id": envelope["id"],
        "event": envelope["event"],
        "source": envelope["source"],
        "verified": envelope["verified"],
        "received_at": iso_z(received_at),
        "timestamp": envelope.get("timestamp"),
        "payload": envelope["data"],
    }


def release_claim(redis, prefix: str, item: bytes) -> None:
    """Let a sender's retry of a set-aside event through, instead of answering it as a duplicate."""
    try:
        envelope = parse_item(item)
        if envelope.get("dedupe_key") and not envelope.get("duplicate_of"):
            key = FlowKeys(prefix, envelope["flow_id"]).claim(envelope["dedupe_key"])
            if redis.get(key) == envelope["id"].encode():
                redis.delete(key)
    except Exception:  # an item too broken to read has no claim we could find
        logger.warning("could not release the dedupe claim of a set-aside flow event")
