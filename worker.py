"""The worker process and its jobs: persist, dedupe, resolve identities, deliver, retry.

`python worker.py` runs an RQ worker with its scheduler on every Hookyard queue. It stops cleanly on
SIGTERM (RQ finishes the job in hand first), and a failing job never kills it: RQ catches the
exception, we log it with the job id and count it, and the job lands in the failed registry.
Jobs take ids or plain data, never ORM objects, and are safe to run twice.
"""

import datetime
import logging
import threading
import time

import orjson
import peewee
from rq import SimpleWorker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from hookyard.activities import store as activity_store
from hookyard.core import metrics
from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from hookyard.core.credentials import SecretBox
from hookyard.core.db import bind_database, db
from hookyard.core.queues import DELIVERY_QUEUE, INGEST_QUEUE, QUEUE_NAMES, TRANSIENT_ERRORS, connect_redis, make_queues
from hookyard.flows import store as flow_store
from hookyard.flows.buffer import FlowBufferKeys
from hookyard.mapping import apply as signal_mapping
from hookyard.outbound.dispatch import SHUTDOWN, Dispatcher
from hookyard.outbound.publish import Publisher, publish
from hookyard.signals.buffer import ADOPT_SCRIPT, CLAIM_SCRIPT, DRAIN_FLAG_TTL, SignalKeys, identity_field
from hookyard.signals.intake import drain_retry
from hookyard.signals.store import IN_CHUNK, MAX_ALIAS_HOPS, StoreResult, rehydrate, resolve_aliases, store_signals
from models import Delivery, Endpoint, MappingRule, Signal, SignalImport

logger = logging.getLogger("hookyard.worker")

CLAIM_SIZE = 500  # signals stored per transaction by the drain job
DRAIN_BUDGET = 120  # seconds a drain job runs before handing the rest of the buffer to a fresh one
SWEEP_EVERY = 20  # seconds between ingest sweeps across all workers

# The worker process's configuration, set by make_worker; jobs read it.
config = Config()


class HookyardWorker(SimpleWorker):
    """An RQ worker that runs jobs in-process (no fork per job) and counts their outcomes in Redis.

    A thread keeps the running job's heartbeat fresh on a short TTL, so when this process is
    killed the job is seen as abandoned, and re-queued by RQ's registry sweep, within a minute.
    """

    prefix = "hy"
    heartbeat_ttl = 20

    def request_stop(self, signum, frame):
        # Long jobs look at this to stop starting new work, so a warm shutdown (SIGTERM on a deploy)
        # ends within DELIVERY_TIMEOUT instead of when a backlog is sent.
        SHUTDOWN.set()
        super().request_stop(signum, frame)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return self.heartbeat_ttl

    def perform_job(self, job, queue, execution) -> bool:
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, stop), daemon=True)
        beat.start()
        try:
            succeeded = super().perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join()
            # Jobs open the connection lazily; give it back so a restarted database is picked up.
            if not db.is_closed():
                db.close()
        outcome = "success" if succeeded else "failure"
        try:
            metrics.record_outcome(self.connection, self.prefix, "job", f"{queue.name}:{outcome}")
        except Exception:  # counting must never turn a finished job into a worker crash
            logger.warning("could not count outcome of job %s", job.id)
        return succeeded

    def run_maintenance_tasks(self):
        """RQ's registry sweep, then ours: nothing accepted may wait on a job that is gone."""
        super().run_maintenance_tasks()
        queues = make_queues(self.connection)
        for sweep, queue in ((sweep_ingest, INGEST_QUEUE), (sweep_flows, INGEST_QUEUE),
                             (sweep_deliveries, DELIVERY_QUEUE)):
            try:
                sweep(self.connection, SignalKeys(self.prefix), queues[queue])
            except Exception:
                logger.exception("%s failed; it runs again at the next maintenance", sweep.__name__)

    def _beat(self, job, execution, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_ttl / 4):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # a missed beat is retried; it must not kill the job
                logger.warning("heartbeat for job %s failed", job.id)


def log_job_failure(job, exc_type, exc_value, _traceback) -> bool:
    """Log one line for a failed job; return True so RQ records it in the failed registry too."""
    logger.error("job %s (%s) failed: %s: %s", job.id, job.func_name, exc_type.__name__, exc_value)
    return True


def make_worker(worker_config: Config, connection=None, **options) -> HookyardWorker:
    """Return a worker serving every Hookyard queue on the configuration's Redis."""
    global config
    config = worker_config
    connection = connection or connect_redis(config.redis_url)
    # Registries are swept this often: the sweep is what re-queues jobs whose worker died. An idle
    # worker blocks on the queues for worker_ttl - 15 s, so that must not outlast the interval.
    worker = HookyardWorker(list(make_queues(connection).values()), connection=connection,
                            exception_handlers=[log_job_failure],
                            maintenance_interval=config.worker_maintenance_interval,
                            worker_ttl=config.worker_maintenance_interval + 15, **options)
    worker.prefix = config.redis_prefix
    worker.heartbeat_ttl = config.worker_heartbeat_ttl
    return worker


# --- signal staging jobs -------------------------------------------------------------------------

def drain_signals() -> int:
    """Store every signal waiting in the ingest buffer, a claim at a time; return how many."""
    keys = SignalKeys(config.redis_prefix)

    def store(redis, items: list[bytes]) -> int:
        store_claim(redis, keys, items)
        return len(items)

    return _drain(keys, CLAIM_SIZE, store)


def _drain(keys, claim_size: int, store) -> int:
    """Store what waits in a buffer (signals or flow events), a claim per `store(redis, items)` call.

    Takes first the claim a dead run of this job left behind. Stops between claims on SIGTERM or
    past DRAIN_BUDGET and hands the rest of the buffer to a fresh job: a drain under sustained load
    would otherwise run into its timeout. Returns what `store` counted.
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
            count += store(redis, items)
            redis.delete(processing)
            if SHUTDOWN.is_set() or time.monotonic() - started >= DRAIN_BUDGET:
                if redis.llen(keys.buffer) and redis.set(keys.drain_flag, 1, nx=True, ex=DRAIN_FLAG_TTL):
                    make_queues(redis)[job.origin].enqueue(job.func_name, retry=drain_retry(), job_timeout=600)
                return count
        items = claim(keys=[keys.buffer, processing], args=[claim_size])
        if not items:
            return count


def store_claim(redis, keys: SignalKeys, items: list[bytes]) -> StoreResult:
    """Store claimed envelopes in one transaction; fall back to one at a time to isolate a bad one."""
    envelopes = [orjson.loads(item) for item in items]
    publisher = Publisher(max_attempts=1 + len(config.retry_schedule))
    try:
        with db.atomic():
            result = store_signals(envelopes)
            publish_signal_events(publisher, result)
    except TRANSIENT_ERRORS:
        raise  # the database is away or the job ran out of time: it fails, RQ retries it, the claim is kept
    except Exception:
        logger.exception("storing a claim of %d signals failed; storing them one by one", len(envelopes))
        result = StoreResult()
        for envelope in envelopes:
            try:
                with db.atomic():
                    single = store_signals([envelope])
                    publish_signal_events(publisher, single)
                result.merge(single)
            except TRANSIENT_ERRORS:
                raise
            except Exception as error:
                logger.error("signal %s could not be stored (%s); kept in %s", envelope.get("id"), error,
                             keys.dead_letter)
                redis.rpush(keys.dead_letter, orjson.dumps({"envelope": envelope, "error": str(error)}))
    settle(redis, keys, result, publisher)
    if publisher.published:
        request_dispatch(redis, keys.prefix)
    return result


def publish_signal_events(publisher: Publisher, result: StoreResult) -> None:
    """Publish signal.received, lead.created and lead.identified for what a chunk stored."""
    for row in result.stored_rows:
        publisher.publish(row["organization_id"], "signal.received", row)
    for organization_id, lead_id, email in result.new_leads:
        publisher.publish(organization_id, "lead.created", {"id": lead_id, "email": email})
    for (organization_id, kind, value), lead_id in result.identified.items():
        publisher.publish(organization_id, "lead.identified", {"lead_id": lead_id, kind: value})
    publish_events(publisher, result.events)


def publish_events(publisher: Publisher, events: list[tuple]) -> None:
    """Publish (organization, type, data) events, e.g. what mapping rules produced."""
    for organization_id, event_type, data in events:
        publisher.publish(organization_id, event_type, data)


def settle(redis, keys: SignalKeys, result: StoreResult, publisher: Publisher) -> None:
    """After commit: follow aliases, rehydrate cold signals, and cache new identity links for the web's
    cold check."""
    for organization_id in set(result.identities) | set(result.aliased):
        identities = set(result.identities.get(organization_id, ()))
        values = {value for _kind, value in identities} | result.aliased.get(organization_id, set())
        for _round in range(MAX_ALIAS_HOPS):
            with db.atomic():
                made = resolve_aliases(organization_id, values)
                announced = set()
                for (kind, value), lead_id in sorted(made.items()):
                    result.identified[(organization_id, kind, value)] = lead_id
                    if value not in announced:  # a previousId is linked as both kinds: one event
                        announced.add(value)
                        publisher.publish(organization_id, "lead.identified", {"lead_id": lead_id, kind: value})
                for part in peewee.chunked(sorted(identities | set(made)), IN_CHUNK):
                    publish_events(publisher, rehydrate(organization_id, part))
            if not made:
                break
            # Follow the links just committed: an alias committed meanwhile by another worker, whose
            # own pass ran before these links were visible, is seen now.
            identities, values = set(made), {value for _kind, value in made}
    if result.identified:
        with redis.pipeline(transaction=False) as pipe:
            for (organization_id, kind, value), lead_id in result.identified.items():
                pipe.hset(keys.identities(organization_id), identity_field(kind, value), lead_id)
            pipe.execute()


def sweep_ingest(redis, keys: SignalKeys, queue) -> None:
    """Give back claims of drain jobs that are gone, restart stalled imports, drain a forgotten buffer."""
    if not redis.set(keys.sweep_lock, 1, nx=True, ex=SWEEP_EVERY):
        return  # another worker swept moments ago
    _recover_buffer(redis, queue, keys, "worker.drain_signals", "drain")
    for key in redis.scan_iter(match=keys.import_chunks("*"), count=100):
        import_id = key.decode().split(":")[-2]
        if not _job_is_alive(redis, f"import-{import_id}"):
            logger.warning("restarting stalled import %s", import_id)
            queue.enqueue("worker.import_signals", import_id, job_id=f"import-{import_id}", retry=drain_retry(),
                          job_timeout=3600)


def _recover_buffer(redis, queue, keys, drain_job: str, what: str) -> None:
    """Give claims of drain jobs that are gone back to the buffer, and drain a buffer no job is coming for.

    `keys` names the buffer, its drain flag and its processing lists (SignalKeys or FlowBufferKeys).
    """
    for key in redis.scan_iter(match=keys.processing_pattern, count=100):
        job_id = key.decode().rsplit(":", 1)[-1]
        if not _job_is_alive(redis, job_id):
            logger.warning("giving the claim of gone %s job %s back to the buffer", what, job_id)
            redis.eval(ADOPT_SCRIPT, 2, key, keys.buffer)
    if redis.llen(keys.buffer) and redis.set(keys.drain_flag, 1, nx=True, ex=DRAIN_FLAG_TTL):
        queue.enqueue(drain_job, retry=drain_retry(), job_timeout=600)


def _job_is_alive(redis, job_id: str) -> bool:
    """Tell whether a job is still going to run (queued, running, scheduled or waiting)."""
    try:
        status = Job.fetch(job_id, connection=redis).get_status()
    except NoSuchJobError:
        return False
    return status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def import_signals(import_id: str) -> int:
    """Store a bulk import chunk by chunk, its progress advanced in each chunk's transaction."""
    job = get_current_job()
    redis, keys = job.connection, SignalKeys(config.redis_prefix)
    record = _import_record(redis, keys, import_id)
    publisher = Publisher(max_attempts=1 + len(config.retry_schedule))
    for chunk in range(record.next_chunk, record.chunks):
        envelopes = orjson.loads(redis.lindex(keys.import_chunks(import_id), chunk))
        with db.atomic():
            result = store_signals(envelopes)
            publish_signal_events(publisher, result)
            advanced = (SignalImport.update(next_chunk=chunk + 1,
                                            processed=SignalImport.processed + len(envelopes),
                                            duplicates=SignalImport.duplicates + len(result.duplicates))
                        .where((SignalImport.id == import_id) & (SignalImport.next_chunk == chunk)).execute())
            if not advanced:
                raise RuntimeError(f"import {import_id} chunk {chunk} was stored by another run")
        settle(redis, keys, result, publisher)
    if publisher.published:
        request_dispatch(redis, keys.prefix)
    SignalImport.update(status="done", finished_at=utcnow()).where(SignalImport.id == import_id).execute()
    redis.delete(keys.import_chunks(import_id))
    return record.total


def _import_record(redis, keys: SignalKeys, import_id: str) -> SignalImport:
    """Return the import's progress row, creating it from what the request left in Redis."""
    record = SignalImport.get_or_none(SignalImport.id == import_id)
    if record is not None:
        return record
    meta = {k.decode(): v.decode() for k, v in redis.hgetall(keys.import_meta(import_id)).items()}
    try:
        with db.atomic():
            return SignalImport.create(id=import_id, organization=int(meta["organization_id"]),
                                       total=int(meta["total"]), chunks=int(meta["chunks"]),
                                       failed=int(meta["failed"]))
    except peewee.IntegrityError:
        return SignalImport.get_by_id(import_id)


# --- mapping rule jobs ---------------------------------------------------------------------------

APPLY_CHUNK = 500


def apply_mapping_rule(rule_id: int) -> dict:
    """Map the queued signals one rule matches now, a chunk per transaction; progress in the job's meta."""
    job = get_current_job()
    rule = MappingRule.get_or_none(MappingRule.id == rule_id)
    if rule is None:
        return {"mapped": 0, "scanned": 0}
    publisher = Publisher(max_attempts=1 + len(config.retry_schedule))
    queued = (Signal.organization == rule.organization_id) & (Signal.status == "processed")
    if rule.source is not None:
        queued &= Signal.source == rule.source
    if rule.event is not None:
        queued &= Signal.event == rule.event
    last_id, mapped, scanned = 0, 0, 0
    while True:
        rows = list(Signal.select(Signal.id, Signal.source, Signal.event, Signal.payload, Signal.lead)
                    .where(queued & (Signal.id > last_id)).order_by(Signal.id).limit(APPLY_CHUNK))
        if not rows:
            break
        with db.atomic():
            candidates = [signal_mapping.Candidate(row.id, row.source, row.event, row.payload or {}, row.lead_id)
                          for row in rows]
            count, events = signal_mapping.apply_rule(rule, candidates)
            publish_events(publisher, events)
        last_id, mapped, scanned = rows[-1].id, mapped + count, scanned + len(rows)
        job.meta.update(mapped=mapped, scanned=scanned)
        job.save_meta()
    if publisher.published:
        request_dispatch(job.connection, config.redis_prefix)
    return {"mapped": mapped, "scanned": scanned}


# --- activity ingress jobs -----------------------------------------------------------------------

def store_activity(activity: dict) -> str:
    """Store an activity accepted at /webhooks/ingress/<token>; publish activity.created or .updated."""
    publisher = Publisher(max_attempts=1 + len(config.retry_schedule))
    outcome = activity_store.store_activity(activity, publisher)
    if publisher.published:
        request_dispatch(get_current_job().connection, config.redis_prefix)
    return outcome


# --- flow jobs -----------------------------------------------------------------------------------

def drain_flow_events() -> int:
    """Store every event waiting in the flow buffer, a claim per transaction; return how many."""
    keys, published = FlowBufferKeys(config.redis_prefix), []

    def store(redis, items: list[bytes]) -> int:
        outcome = flow_store.store_claim(redis, config.redis_prefix, keys.dead_letter, items,
                                         1 + len(config.retry_schedule))
        published.append(outcome.published)
        return outcome.stored

    count = _drain(keys, flow_store.CLAIM_SIZE, store)
    if sum(published):
        request_dispatch(get_current_job().connection, config.redis_prefix)
    return count


def sweep_flows(redis, keys: SignalKeys, queue) -> None:
    """Give back claims of flow drain jobs that are gone; drain a buffer no job is coming for."""
    _recover_buffer(redis, queue, FlowBufferKeys(keys.prefix), "worker.drain_flow_events", "flow drain")


# --- outbound webhook jobs -----------------------------------------------------------------------

def dispatch_key(prefix: str) -> str:
    return f"{prefix}:deliveries:dispatch-pending"


def request_dispatch(redis, prefix: str) -> None:
    """Make sure a dispatch job is queued (one per burst of new deliveries, not one per delivery)."""
    if redis.set(dispatch_key(prefix), 1, nx=True, ex=60):
        make_queues(redis)[DELIVERY_QUEUE].enqueue("worker.dispatch_deliveries", job_timeout=600)


def dispatch_deliveries() -> dict:
    """Send every due delivery; then have RQ's scheduler run this again when the next retry is due."""
    job = get_current_job()
    redis = job.connection
    redis.delete(dispatch_key(config.redis_prefix))
    dispatcher = Dispatcher(SecretBox(config.encryption_key), config.retry_schedule, config.delivery_timeout,
                            config.webhook_allow_private_networks)
    next_due = dispatcher.run()
    with redis.pipeline(transaction=False) as pipe:
        for outcome, count in dispatcher.sent.items():
            if count:
                metrics.record_outcome(redis, config.redis_prefix, "delivery", outcome, count, pipeline=pipe)
        pipe.execute()
    if next_due is not None:
        if next_due <= utcnow():
            request_dispatch(redis, config.redis_prefix)
        else:
            when = next_due.replace(tzinfo=datetime.UTC)
            make_queues(redis)[DELIVERY_QUEUE].enqueue_at(when, "worker.dispatch_deliveries", job_timeout=600,
                                                          job_id=f"dispatch-at-{int(when.timestamp())}")
    return dispatcher.sent


def publish_event(organization_id: int, event_type: str, data: dict, event_id: str, created_at: str,
                  idempotency_key: str | None = None, endpoint_id: str | None = None,
                  delivery_id: str | None = None) -> str:
    """Store an event published through the API (or a test event for one endpoint) and fan it out."""
    endpoints = None
    if endpoint_id is not None:
        endpoints = list(Endpoint.select().where(Endpoint.id == endpoint_id))
    publish(organization_id, event_type, data, event_id=event_id, idempotency_key=idempotency_key,
            created_at=datetime.datetime.fromisoformat(created_at), endpoints=endpoints,
            delivery_ids={endpoint_id: delivery_id} if endpoint_id else None,
            max_attempts=1 + len(config.retry_schedule))
    request_dispatch(get_current_job().connection, config.redis_prefix)
    return event_id


def redeliver(delivery_ids: list[str]) -> int:
    """Give deliveries one more attempt now (a manual retry or a replay); return how many."""
    count = (Delivery.update(status="pending", max_attempts=Delivery.attempts + 1, next_attempt_at=utcnow(),
                             lease_until=None)
             .where(Delivery.id.in_(delivery_ids)).execute())
    request_dispatch(get_current_job().connection, config.redis_prefix)
    return count


def sweep_deliveries(redis, keys: SignalKeys, queue) -> None:
    """Queue a dispatch when deliveries are due but no job is coming for them (a lost schedule)."""
    now = utcnow()
    due = (Delivery.select(Delivery.id).where(
        Delivery.status.in_(("pending", "retrying")) & (Delivery.next_attempt_at <= now)
        & (Delivery.lease_until.is_null() | (Delivery.lease_until < now))).limit(1).scalar())
    if due is not None and queue.count == 0:
        request_dispatch(redis, keys.prefix)


def main() -> None:
    """Run the worker until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config.from_env()
    if not config.redis_url:
        raise SystemExit("REDIS_URL is not set: `make run` starts a Redis and sets it; otherwise point it at yours")
    bind_database(config.database_url)
    logger.info("serving queues %s", ", ".join(QUEUE_NAMES))
    make_worker(config).work(with_scheduler=True)


if __name__ == "__main__":
    # Run as the `worker` module, the one RQ imports job functions from, so they share its configuration.
    import worker

    worker.main()
