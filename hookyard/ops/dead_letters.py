"""Dead letters: signals and flow events the worker could not store, even on their own.

The worker sets an item aside in its buffer's Redis list first (`hookyard.core.buffer.store_isolating`):
that needs no database, so nothing is dropped whatever failed. The maintenance sweep here moves each
entry into the `dead_letter` table, where it is durable, listed per organization, and retried (sent back
to its buffer) or deleted through the API, the dashboard or `flask dead-letters`. A dead letter's id is
derived from the item it holds: a sweep that dies between inserting and trimming the list inserts nothing
twice, an item set aside twice is one dead letter, and one retried that fails again comes back as itself.
"""

import datetime
import logging

import orjson
from peewee import fn
from prometheus_client.core import GaugeMetricFamily

from hookyard.core import buffer
from hookyard.core.clock import iso_z, utcnow
from hookyard.core.credentials import derived_public_id
from hookyard.core.db import db
from hookyard.core.jobs import JobContext
from hookyard.core.queues import INGEST_QUEUE, make_queues
from hookyard.flows.jobs import drain_flow_events
from hookyard.flows.keys import flow_buffer_keys
from hookyard.outbound.jobs import request_dispatch
from hookyard.outbound.operational import publish_operational
from hookyard.signals.jobs import drain_signals
from hookyard.signals.keys import SignalKeys
from models import DeadLetter, Organization

logger = logging.getLogger(__name__)

KINDS = ("signal", "flow_event")
MOVE_BATCH = 200  # entries moved from a Redis list per transaction


def buffer_of(kind: str, prefix: str) -> buffer.BufferKeys:
    return SignalKeys(prefix) if kind == "signal" else flow_buffer_keys(prefix)


def drain_job_of(kind: str):
    return drain_signals if kind == "signal" else drain_flow_events


def read_entry(kind: str, entry: bytes) -> dict | None:
    """Return a Redis dead-letter entry as a row's fields (without its id), or None if it names no organization."""
    try:
        outer = orjson.loads(entry)
        text = outer["item"]
        # A flow item is a header line (the event it duplicates, or nothing), then the envelope.
        envelope = orjson.loads(text.partition("\n")[2] if kind == "flow_event" else text)
        organization_id = envelope["org"] if kind == "signal" else envelope["organization_id"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(organization_id, int) or isinstance(organization_id, bool):
        return None
    at = outer.get("at")
    failed_at = datetime.datetime.fromtimestamp(at, datetime.UTC).replace(tzinfo=None) if at else utcnow()
    item_id = envelope.get("id")
    return {
        "organization": organization_id,
        "kind": kind,
        "item_id": None if item_id is None else str(item_id)[:40],
        "item": text,
        "error": str(outer.get("error", ""))[:2000],
        "failed_at": failed_at,
    }


def move_from_redis(redis, prefix: str) -> list[DeadLetter]:
    """Move every entry of both Redis dead-letter lists into the table; return the rows that are new."""
    moved = []
    for kind in KINDS:
        keys = buffer_of(kind, prefix)
        while entries := redis.lrange(keys.dead_letter, 0, MOVE_BATCH - 1):
            moved += _move(redis, keys, kind, entries)
            if len(entries) < MOVE_BATCH:
                break
    return moved


def _move(redis, keys: buffer.BufferKeys, kind: str, entries: list[bytes]) -> list[DeadLetter]:
    """Insert one batch of entries (those already in the table are not new), then trim them from the list."""
    rows, unreadable = {}, []
    for entry in entries:
        fields = read_entry(kind, entry)
        if fields is None:
            unreadable.append(entry)
            continue
        row = DeadLetter(id=derived_public_id("dlq_", kind, fields["item"]), **fields)
        rows[row.id] = row
    new = []
    if rows:
        organizations = {row.organization_id for row in rows.values()}
        known = set(Organization.select(Organization.id).where(Organization.id.in_(list(organizations))).scalars())
        with db.atomic():
            there = set(DeadLetter.select(DeadLetter.id).where(DeadLetter.id.in_(list(rows))).scalars())
            # An entry whose organization is gone has nothing left to be retried into: it is dropped here.
            new = [row for row in rows.values() if row.id not in there and row.organization_id in known]
            if new:
                DeadLetter.insert_many([row.__data__ for row in new]).on_conflict_ignore().execute()
    if unreadable:
        logger.error("%d entries of %s name no organization; kept in %s:unreadable", len(unreadable),
                     keys.dead_letter, keys.dead_letter)  # fmt: skip
        redis.rpush(f"{keys.dead_letter}:unreadable", *unreadable)
    redis.ltrim(keys.dead_letter, len(entries), -1)
    return new


def dead_letter_query(organization_id: int, kind: str | None = None):
    """An organization's dead letters (of one kind, if given), for paging newest first."""
    query = DeadLetter.select().where(DeadLetter.organization == organization_id)
    return query.where(DeadLetter.kind == kind) if kind else query


def retry(redis, prefix: str, queue, dead_letter: DeadLetter) -> bool:
    """Send a dead letter back to its buffer for the worker to store again; False if it was already gone.

    The row goes in the same transaction as the push: Redis failing keeps the row (and the caller answers
    503); a commit failing after the push stores the item twice, which dedupe makes once. Should the item
    fail again, it comes back as a dead letter, with the same id.
    """
    keys = buffer_of(dead_letter.kind, prefix)
    with db.atomic():
        if not DeadLetter.delete().where(DeadLetter.id == dead_letter.id).execute():
            return False
        redis.rpush(keys.buffer, dead_letter.item.encode())
    buffer.request_drain(redis, queue, keys, drain_job_of(dead_letter.kind))
    return True


def purge(organization_id: int | None = None, kind: str | None = None, older_than: datetime.datetime | None = None):
    """Delete dead letters for good (an organization's, of a kind, set aside before a time); return how many."""
    query = DeadLetter.delete()
    if organization_id is not None:
        query = query.where(DeadLetter.organization == organization_id)
    if kind is not None:
        query = query.where(DeadLetter.kind == kind)
    if older_than is not None:
        query = query.where(DeadLetter.failed_at < older_than)
    return query.execute()


def as_dict(dead_letter: DeadLetter) -> dict:
    """A dead letter as the API shows it, its item parsed back where it is JSON."""
    text = dead_letter.item.partition("\n")[2] if dead_letter.kind == "flow_event" else dead_letter.item
    try:
        item = orjson.loads(text)
    except orjson.JSONDecodeError:
        item = dead_letter.item
    return {**dead_letter.__data__, "organization_id": dead_letter.organization_id, "item": item}


def sweep_dead_letters(context: JobContext) -> None:
    """Move what the worker set aside in Redis into the table, and publish `signal.dead_lettered` for signals."""
    if not context.redis.set(f"{context.prefix}:dead-letters:sweep-lock", 1, nx=True, ex=buffer.SWEEP_EVERY):
        return  # another worker swept moments ago
    moved = [row for row in move_from_redis(context.redis, context.prefix) if row.kind == "signal"]
    for row in moved:
        data = {
            "dead_letter_id": row.id,
            "signal_id": row.item_id,
            "error": row.error,
            "failed_at": iso_z(row.failed_at),
        }
        about = f"{row.id}:{iso_z(row.failed_at)}"  # a signal retried that fails again is news again
        publish_operational(row.organization_id, "signal.dead_lettered", data, about, context.max_attempts)
    if moved:
        request_dispatch(context)


def retry_all(redis, prefix: str, organization_id: int | None = None, kind: str | None = None) -> int:
    """Send back every dead letter (an organization's, of a kind), oldest first; return how many went."""
    queue = make_queues(redis)[INGEST_QUEUE]
    query = DeadLetter.select()
    if organization_id is not None:
        query = query.where(DeadLetter.organization == organization_id)
    if kind is not None:
        query = query.where(DeadLetter.kind == kind)
    return sum(retry(redis, prefix, queue, row) for row in query.order_by(DeadLetter.failed_at).iterator())


def depth_gauge(redis, prefix: str) -> GaugeMetricFamily:
    """`hookyard_dead_letters{buffer}`: what waits for an operator, in the table and still in Redis."""
    rows = dict(DeadLetter.select(DeadLetter.kind, fn.COUNT(DeadLetter.id)).group_by(DeadLetter.kind).tuples())
    gauge = GaugeMetricFamily(
        "hookyard_dead_letters",
        "Items the worker could not store, set aside as dead letters (GET /v1/dead-letters), by buffer.",
        labels=["buffer"],
    )
    for kind, label in (("signal", "signals"), ("flow_event", "flows")):
        keys = buffer_of(kind, prefix)
        waiting = redis.llen(keys.dead_letter) + redis.llen(f"{keys.dead_letter}:unreadable")
        gauge.add_metric([label], rows.get(kind, 0) + waiting)
    return gauge
