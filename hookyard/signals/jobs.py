"""Signal jobs (worker side): drain the ingest buffer, store bulk imports, settle identities after commit.

Storing is `store.store_signals`, inside one transaction per claim or import chunk together with the
outbound events it causes; after the commit, `settle` follows aliases, rehydrates cold signals and
caches the new identity links in Redis for the web process's cold check.
"""

import logging

import orjson
import peewee

from hookyard.core import buffer, jobs
from hookyard.core.clock import iso_z, utcnow
from hookyard.core.db import db
from hookyard.core.jobs import JobContext
from hookyard.core.queues import INGEST_QUEUE
from hookyard.outbound.jobs import dispatch_published, request_dispatch
from hookyard.outbound.operational import publish_operational
from hookyard.outbound.publish import Publisher
from hookyard.signals.identities import IN_CHUNK, MAX_ALIAS_HOPS, rehydrate, resolve_aliases
from hookyard.signals.keys import SignalKeys, identity_field
from hookyard.signals.store import StoreResult, store_signals
from models import SignalImport

logger = logging.getLogger(__name__)

CLAIM_SIZE = 500  # signals stored per transaction by the drain job
IMPORT_TIMEOUT = 3600
IMPORT_FAILURES_TTL = 30 * 24 * 3600  # as long as the import's own record in Redis


def drain_signals() -> int:
    """Store every signal waiting in the ingest buffer, a claim at a time; return how many."""
    context = jobs.current()

    def store(items: list[bytes]) -> int:
        store_claim(context, items)
        return len(items)

    return buffer.drain(SignalKeys(context.prefix), CLAIM_SIZE, store, drain_signals)


def store_claim(context: JobContext, items: list[bytes]) -> StoreResult:
    """Store claimed envelopes in one transaction, or one by one with the bad ones set aside; then settle."""
    publisher = Publisher(context.max_attempts)

    def store(chunk: list[bytes]) -> StoreResult:
        stored = store_signals([orjson.loads(item) for item in chunk])
        publish_stored_signals(publisher, stored)
        return stored

    result = StoreResult()
    for stored in buffer.store_isolating(context.redis, SignalKeys(context.prefix), items, store):
        result.merge(stored)
    settle(context, result, publisher)
    dispatch_published(context, publisher)
    return result


def publish_stored_signals(publisher: Publisher, result: StoreResult) -> None:
    """Publish signal.received, lead.created and lead.identified for what a chunk stored, and mapping events."""
    for row in result.stored_rows:
        publisher.publish_to_subscribers(row["organization_id"], "signal.received", row)
    for organization_id, lead_id, email in result.new_leads:
        publisher.publish_to_subscribers(organization_id, "lead.created", {"id": lead_id, "email": email})
    for (organization_id, kind, value), lead_id in result.identified.items():
        publisher.publish_to_subscribers(organization_id, "lead.identified", {"lead_id": lead_id, kind: value})
    publisher.publish_many(result.events)


def settle(context: JobContext, result: StoreResult, publisher: Publisher) -> None:
    """After commit: follow aliases, rehydrate cold signals, and cache new identity links for the web's cold check."""
    for organization_id in set(result.identities) | set(result.aliased):
        identities = set(result.identities.get(organization_id, ()))
        values = {value for _kind, value in identities} | result.aliased.get(organization_id, set())
        for _round in range(MAX_ALIAS_HOPS):
            made = _link_alias_group(organization_id, identities, values, result, publisher)
            if not made:
                break
            # Follow the links just committed: an alias committed meanwhile by another worker, whose
            # own pass ran before these links were visible, is seen now.
            identities, values = set(made), {value for _kind, value in made}
    if result.identified:
        keys = SignalKeys(context.prefix)
        with context.redis.pipeline(transaction=False) as pipe:
            for (organization_id, kind, value), lead_id in result.identified.items():
                pipe.hset(keys.identities(organization_id), identity_field(kind, value), lead_id)
            pipe.execute()


def _link_alias_group(
    organization_id: int, identities: set, values: set, result: StoreResult, publisher: Publisher
) -> dict:
    """Link the alias group of `values` and rehydrate what it frees, in one transaction; return the links made."""
    with db.atomic():
        made = resolve_aliases(organization_id, values)
        announced = set()
        for (kind, value), lead_id in sorted(made.items()):
            result.identified[(organization_id, kind, value)] = lead_id
            if value not in announced:  # a previousId is linked as both kinds: one event
                announced.add(value)
                publisher.publish_to_subscribers(organization_id, "lead.identified", {"lead_id": lead_id, kind: value})
        for part in peewee.chunked(sorted(identities | set(made)), IN_CHUNK):
            publisher.publish_many(rehydrate(organization_id, part))
    return made


def sweep_signals(context: JobContext) -> None:
    """Give back claims of drain jobs that are gone, drain a forgotten buffer, restart stalled imports."""
    keys, queue = SignalKeys(context.prefix), context.queues[INGEST_QUEUE]
    if not buffer.recover(context.redis, queue, keys, drain_signals):
        return  # another worker swept moments ago
    for key in context.redis.scan_iter(match=keys.import_chunks("*"), count=100):
        import_id = key.decode().split(":")[-2]
        if not buffer.job_is_alive(context.redis, f"import-{import_id}"):
            logger.warning("restarting stalled import %s", import_id)
            enqueue_import(queue, import_id)


def enqueue_import(queue, import_id: str, **options):
    """Queue the job that stores a bulk import; its id is fixed, so an import runs in one job at a time."""
    return queue.enqueue(
        import_signals,
        import_id,
        job_id=f"import-{import_id}",
        retry=jobs.at_least_once(),
        job_timeout=IMPORT_TIMEOUT,
        **options,
    )


def import_signals(import_id: str) -> int:
    """Store a bulk import chunk by chunk, its progress advanced in each chunk's transaction.

    A row that cannot be stored even on its own is set aside (the dead letter, the import's `failed` and
    its `errors`) and the rest of its chunk stored: one bad row never stops an import.
    """
    context = jobs.current()
    keys = SignalKeys(context.prefix)
    record = _import_record(context, keys, import_id)
    publisher = Publisher(context.max_attempts)
    for chunk in range(record.next_chunk, record.chunks):
        envelopes = orjson.loads(context.redis.lindex(keys.import_chunks(import_id), chunk))
        result = _import_chunk(context, keys, import_id, chunk, envelopes, publisher)
        settle(context, result, publisher)
    _complete_import(context, import_id)
    dispatch_published(context, publisher)
    context.redis.delete(keys.import_chunks(import_id))
    return record.total


def _complete_import(context: JobContext, import_id: str) -> None:
    """Mark the import done and publish `import.completed` with its totals, together and once."""
    with db.atomic():
        finished = utcnow()
        done = SignalImport.update(status="done", finished_at=finished).where(
            (SignalImport.id == import_id) & (SignalImport.status != "done")
        )
        if done.execute():
            record = SignalImport.get_by_id(import_id)
            totals = {name: getattr(record, name) for name in ("total", "processed", "duplicates", "failed")}
            data = {"id": import_id, "status": "done", **totals, "finished_at": iso_z(finished)}
            publish_operational(record.organization_id, "import.completed", data, import_id, context.max_attempts)
    request_dispatch(context)  # after the commit, so the dispatcher finds the delivery


def _import_chunk(context, keys: SignalKeys, import_id: str, chunk: int, envelopes: list, publisher) -> StoreResult:
    """Store one chunk of an import and advance its progress; set aside rows that cannot be stored."""

    def store(chunk: list[dict]) -> StoreResult:
        stored = store_signals(chunk)
        publish_stored_signals(publisher, stored)
        return stored

    def finish(results: list[StoreResult], set_aside: int) -> None:
        duplicates = sum(len(stored.duplicates) for stored in results)
        _advance_import(import_id, chunk, len(envelopes) - set_aside, duplicates, set_aside)

    def record_failure(envelope: dict, error: Exception) -> None:
        failures = keys.import_failures(import_id)
        context.redis.hset(failures, str(envelope["id"]), str(error)[:500])
        context.redis.expire(failures, IMPORT_FAILURES_TTL)

    result = StoreResult()
    for stored in buffer.store_isolating(context.redis, keys, envelopes, store, record_failure, finish):
        result.merge(stored)
    return result


def _advance_import(import_id: str, chunk: int, processed: int, duplicates: int, failed: int) -> None:
    """Record a stored chunk in the import's progress; stop if another run stored it already."""
    advanced = (
        SignalImport.update(
            next_chunk=chunk + 1,
            processed=SignalImport.processed + processed,
            duplicates=SignalImport.duplicates + duplicates,
            failed=SignalImport.failed + failed,
        )
        .where((SignalImport.id == import_id) & (SignalImport.next_chunk == chunk))
        .execute()
    )
    if not advanced:
        raise buffer.ClaimTaken(f"import {import_id} chunk {chunk} was stored by another run")


def _import_record(context: JobContext, keys: SignalKeys, import_id: str) -> SignalImport:
    """Return the import's progress row, creating it from what the request left in Redis."""
    record = SignalImport.get_or_none(SignalImport.id == import_id)
    if record is not None:
        return record
    meta = {k.decode(): v.decode() for k, v in context.redis.hgetall(keys.import_meta(import_id)).items()}
    try:
        with db.atomic():
            return SignalImport.create(
                id=import_id,
                organization=int(meta["organization_id"]),
                total=int(meta["total"]),
                chunks=int(meta["chunks"]),
                failed=int(meta["failed"]),
            )
    except peewee.IntegrityError:
        return SignalImport.get_by_id(import_id)
