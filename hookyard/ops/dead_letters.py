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
import time
import uuid

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
from models import DeadLetter, Organization, RetentionPolicy

logger = logging.getLogger(__name__)

KINDS = ("signal", "flow_event")
MOVE_BATCH = 200  # entries moved from a Redis list per transaction
MOVE_BUDGET = 10.0  # seconds a sweep moves entries; the rest waits for the next sweep


def buffer_of(kind: str, prefix: str) -> buffer.BufferKeys:
    """The buffer keys of a dead letter's kind."""
    return SignalKeys(prefix) if kind == "signal" else flow_buffer_keys(prefix)


def unreadable_list(keys: buffer.BufferKeys) -> str:
    """The Redis list where a buffer's dead-letter entries that name no organization there is are kept."""
    return f"{keys.dead_letter}:unreadable"


def drain_job_of(kind: str):
    """The job that drains a dead letter's buffer."""
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


def move_from_redis(redis, prefix: str, max_attempts: int = 1, budget: float = MOVE_BUDGET) -> list[DeadLetter]:
    """Move the entries of both Redis dead-letter lists into the table for up to `budget` seconds; return the new
    rows. Each new signal dead letter's `signal.dead_lettered` is published in the transaction that inserts it.

    A batch is claimed atomically into a list of this run's own and deleted only once inserted: two runs at once
    (a slow one outliving its lock) never trim what the other has not stored. A run that died left its list
    behind; the next run stores that first. Storing a list twice is harmless: ids are derived from the items.
    """
    claim = redis.register_script(buffer.CLAIM_SCRIPT)
    deadline, moved = time.monotonic() + budget, []
    for kind in KINDS:
        keys = buffer_of(kind, prefix)
        for orphan in redis.scan_iter(match=f"{keys.dead_letter}:moving:*", count=100):
            moved += _move(redis, keys, kind, redis.lrange(orphan, 0, -1), max_attempts)
            redis.delete(orphan)
        mine = f"{keys.dead_letter}:moving:{uuid.uuid4().hex}"
        while time.monotonic() < deadline and (entries := claim(keys=[keys.dead_letter, mine], args=[MOVE_BATCH])):
            moved += _move(redis, keys, kind, entries, max_attempts)
            redis.delete(mine)
    return moved


def _move(redis, keys: buffer.BufferKeys, kind: str, entries: list[bytes], max_attempts: int) -> list[DeadLetter]:
    """Insert one claimed batch (what the table holds already is not new); keep aside what names no organization."""
    read = [(entry, read_entry(kind, entry)) for entry in entries]
    named = {fields["organization"] for _, fields in read if fields is not None}
    known = (
        set(Organization.select(Organization.id).where(Organization.id.in_(list(named))).scalars()) if named else set()
    )
    rows = {}
    for _, fields in read:
        if fields is not None and fields["organization"] in known:
            row = DeadLetter(id=derived_public_id("dlq_", kind, fields["item"]), **fields)
            rows[row.id] = row
    new = []
    if rows:
        with db.atomic():
            there = set(DeadLetter.select(DeadLetter.id).where(DeadLetter.id.in_(list(rows))).scalars())
            new = [row for row in rows.values() if row.id not in there]
            if new:
                DeadLetter.insert_many([row.__data__ for row in new]).on_conflict_ignore().execute()
            for row in new:
                if row.kind == "signal":
                    _announce(row, max_attempts)
    unreadable = [entry for entry, fields in read if fields is None or fields["organization"] not in known]
    if unreadable:
        aside = unreadable_list(keys)
        logger.error(
            "%d entries of %s name no organization there is; kept in %s", len(unreadable), keys.dead_letter, aside
        )
        redis.rpush(aside, *unreadable)
    return new


def _announce(row: DeadLetter, max_attempts: int) -> None:
    """Publish `signal.dead_lettered` for a signal just set aside (a retried one that fails again is news again)."""
    data = {"dead_letter_id": row.id, "signal_id": row.item_id, "error": row.error, "failed_at": iso_z(row.failed_at)}
    about = f"{row.id}:{iso_z(row.failed_at)}"
    publish_operational(row.organization_id, "signal.dead_lettered", data, about, max_attempts)


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
        _reopen_retention(dead_letter)
        redis.rpush(keys.buffer, dead_letter.item.encode())
    buffer.request_drain(redis, queue, keys, drain_job_of(dead_letter.kind))
    return True


def _reopen_retention(dead_letter: DeadLetter) -> None:
    """Move the purge's resume mark back to the item's receipt, so the payload it brings back is purged in time.

    The purge walks payloads from where it last stopped; an item stored now keeps its first receipt time, which
    may lie behind that mark, and would otherwise keep its payload for ever.
    """
    text = dead_letter.item.partition("\n")[2] if dead_letter.kind == "flow_event" else dead_letter.item
    try:
        envelope = orjson.loads(text)
        received = envelope["at"] if dead_letter.kind == "signal" else envelope["received_at"]
        moment = _as_time(received)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return
    mark = (RetentionPolicy.signal_payloads_cleared_before if dead_letter.kind == "signal"
            else RetentionPolicy.flow_event_payloads_cleared_before)  # fmt: skip
    RetentionPolicy.update({mark: moment}).where(
        (RetentionPolicy.organization == dead_letter.organization_id) & (mark > moment)
    ).execute()


def _as_time(value) -> datetime.datetime:
    """An envelope's receipt time (milliseconds since the epoch, or ISO 8601) as a naive UTC datetime."""
    if isinstance(value, int | float):
        return datetime.datetime.fromtimestamp(value / 1000, datetime.UTC).replace(tzinfo=None)
    moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(datetime.UTC).replace(tzinfo=None) if moment.tzinfo else moment


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
    """Move what the worker set aside in Redis into the table (publishing `signal.dead_lettered`), then dispatch."""
    if not context.redis.set(f"{context.prefix}:dead-letters:sweep-lock", 1, nx=True, ex=buffer.SWEEP_EVERY):
        return  # another worker swept moments ago
    if any(row.kind == "signal" for row in move_from_redis(context.redis, context.prefix, context.max_attempts)):
        request_dispatch(context)


def retry_all(redis, prefix: str, organization_id: int | None = None, kind: str | None = None) -> int:
    """Send back every dead letter (an organization's, of a kind), oldest first; return how many went."""
    queue = make_queues(redis)[INGEST_QUEUE]
    query = DeadLetter.select()
    if organization_id is not None:
        query = query.where(DeadLetter.organization == organization_id)
    if kind is not None:
        query = query.where(DeadLetter.kind == kind)
    rows = list(query.order_by(DeadLetter.failed_at))  # read out first: each retry deletes a row of this table
    return sum(retry(redis, prefix, queue, row) for row in rows)


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
        waiting = redis.llen(keys.dead_letter) + redis.llen(unreadable_list(keys))
        gauge.add_metric([label], rows.get(kind, 0) + waiting)
    return gauge
