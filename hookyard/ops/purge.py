"""The purge: removes what each organization's retention says has expired, in small batches.

Each batch is one short transaction: the ids of up to `batch_size` rows are found through an index (organization
or flow, then time), oldest first and each batch after the last, then updated or deleted WHERE id IN (...). No
statement touches more than a batch, so no lock is held for long and ingestion goes on beside it, on SQLite and
Postgres alike. Signal payloads and flow event data are cleared and their rows stay (leads, mapped names and the
flow charts count them); an outbound event goes with its deliveries and their attempts once every delivery has
finished; activities are deleted. Leads, scores, mapped names and counts are never touched. A purge is safe to
run twice and to stop between any two batches: the next one carries on.
"""

import datetime
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from peewee import Field, OperationalError, PostgresqlDatabase, SqliteDatabase, fn

from hookyard.core import jobs
from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from hookyard.core.db import db, insert_rows
from hookyard.core.jobs import SHUTDOWN, JobContext
from hookyard.core.metrics import SharedCounter
from hookyard.core.queues import DEFAULT_QUEUE
from hookyard.ops import retention
from models import Activity, Delivery, DeliveryAttempt, Event, Flow, FlowEvent, RetentionPolicy, Signal

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
KINDS = ("signal_payload", "flow_event_payload", "event", "delivery", "delivery_attempt", "activity")
FINISHED = ("success", "failed")  # a delivery in any other status may still be sent: its event stays
VACUUM_STEP = 2000  # SQLite pages (4 KiB each by default) given back per statement
# A purge job works this long, then queues the rest behind the jobs waiting (activities are stored on its queue).
PURGE_SLICE = 60
PURGE_TIMEOUT = 600  # RQ's limit for one purge job: the batch in hand when the slice ends finishes well within it

PURGED = SharedCounter(
    "hookyard_purged_rows_total",
    "Rows the retention purge removed, by kind: payloads cleared (signal_payload, flow_event_payload) or rows "
    "deleted (event, delivery, delivery_attempt, activity).",
    ("kind",),
)


def _never() -> bool:
    return False


def _ignore(_kind: str, _rows: int) -> None:
    return None


@dataclass
class Run:
    """One purge: its clock, its batch size, when to stop, and what it has removed so far."""

    now: datetime.datetime
    batch_size: int
    should_stop: Callable[[], bool] = _never
    observe: Callable[[str, int], None] = _ignore
    rescan: bool = False
    purged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    batches: int = 0
    stopped: bool = False  # asked to stop with work perhaps left

    def stopping(self) -> bool:
        """Whether to stop before the next batch (remembered, so the caller knows work may be left)."""
        self.stopped = self.stopped or self.should_stop()
        return self.stopped

    def count(self, kind: str, rows: int) -> None:
        """Add a committed batch to the totals and tell the observer."""
        self.batches += 1
        if rows:
            self.purged[kind] += rows
            self.observe(kind, rows)


def purge(
    now: datetime.datetime | None = None,
    batch_size: int = BATCH_SIZE,
    organization_id: int | None = None,
    *,
    config: Config | None = None,
    should_stop: Callable[[], bool] | None = None,
    observe: Callable[[str, int], None] | None = None,
    rescan: bool = False,
) -> dict[str, int]:
    """Apply every organization's retention (or one organization's); return the rows purged, by kind.

    `config` gives the defaults (the environment's when None); `should_stop` is asked between batches (a shutdown,
    a time budget); `observe(kind, rows)` hears each committed batch; `rescan` walks payloads from the oldest row
    instead of from where the last purge ended (for rows stored late, a dead letter retried months on, say).
    """
    run = Run(now or utcnow(), batch_size, should_stop or _never, observe or _ignore, rescan)
    return apply_retention(run, config or Config.from_env(), organization_id).purged


def apply_retention(run: Run, config: Config, organization_id: int | None = None) -> Run:
    """Run each organization's retention steps (or one organization's) until done or told to stop."""
    if run.batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {run.batch_size!r}")
    for organization, days in retention.policies(config, organization_id):
        for setting, step in STEPS:
            before = retention.cutoff(run.now, days[setting])
            if before is not None and not run.stopping():
                step(run, organization, before)
    return run


def _batches(run: Run, query, moment: Field, key: Field, before, start=None) -> Iterator[list[tuple]]:
    """Yield the rows of `query` (selecting key, moment) whose moment is before `before` (and from `start`), oldest
    first, a batch at a time, each batch after the last, until none is left or the run should stop."""
    last = None
    while not run.stopping():
        page = query.where(moment < before)
        if last is not None:  # after the last row seen: later, or as late with a greater key
            page = page.where((moment >= last[1]) & ((moment > last[1]) | (key > last[0])))
        elif start is not None:
            page = page.where(moment >= start)
        rows = list(page.order_by(moment, key).limit(run.batch_size).tuples())
        if not rows:
            return
        yield rows
        last = rows[-1]


def _cleared_before(run: Run, organization: int, column: Field):
    """Where this run's walk of payloads starts: where the last one ended, or the beginning."""
    if run.rescan:
        return None
    retention.ensure_policy_row(organization)
    return RetentionPolicy.select(column).where(RetentionPolicy.organization == organization).scalar()


def _advance(organization: int, column: Field, moment: datetime.datetime) -> None:
    """Note that every payload received before `moment` is cleared (never moving the mark back)."""
    RetentionPolicy.update({column: moment}).where(
        (RetentionPolicy.organization == organization) & (column.is_null() | (column < moment))
    ).execute()


def clear_signal_payloads(run: Run, organization: int, before: datetime.datetime) -> None:
    """Clear the payload of the organization's signals received before `before`; their rows stay."""
    mark = RetentionPolicy.signal_payloads_cleared_before
    start = _cleared_before(run, organization, mark)
    if start is not None and start >= before:
        return
    query = Signal.select(Signal.id, Signal.received_at).where(
        (Signal.organization == organization) & Signal.payload.is_null(False)
    )
    for rows in _batches(run, query, Signal.received_at, Signal.id, before, start):
        with db.atomic():
            cleared = _clear(Signal.payload, Signal.payload_purged_at, [row[0] for row in rows], run.now)
            _advance(organization, mark, rows[-1][1])  # all before the batch's last is done; ties may remain
        run.count("signal_payload", cleared)
    if not run.stopping():
        _advance(organization, mark, before)


def clear_flow_event_data(run: Run, organization: int, before: datetime.datetime) -> None:
    """Clear the data of the organization's flow events received before `before`, flow by flow; rows stay."""
    mark = RetentionPolicy.flow_event_payloads_cleared_before
    start = _cleared_before(run, organization, mark)
    if start is not None and start >= before:
        return
    flows = [flow for (flow,) in Flow.select(Flow.id).where(Flow.organization == organization).tuples()]
    for flow in flows:
        query = FlowEvent.select(FlowEvent.id, FlowEvent.received_at).where(
            (FlowEvent.flow == flow) & FlowEvent.data.is_null(False)
        )
        for rows in _batches(run, query, FlowEvent.received_at, FlowEvent.id, before, start):
            with db.atomic():
                cleared = _clear(FlowEvent.data, FlowEvent.data_purged_at, [row[0] for row in rows], run.now)
            run.count("flow_event_payload", cleared)
    if not run.stopping():  # the mark moves once every flow is walked
        _advance(organization, mark, before)


def _clear(column: Field, stamp: Field, ids: list, now: datetime.datetime) -> int:
    """Empty `column` of these rows where it is set, noting when in `stamp`; return how many (in a transaction).

    On SQLite the rows are deleted and inserted again without it: an UPDATE that shrinks rows leaves their pages
    part-empty, and SQLite neither merges those nor puts new rows there (they go at the end), so the space would
    never come back; a delete merges the pages and frees the rest. On Postgres an UPDATE's old versions are
    vacuumed and their space reused.
    """
    model = column.model
    if not isinstance(db.obj, SqliteDatabase):
        return model.update({column: None, stamp: now}).where(model.id.in_(ids) & column.is_null(False)).execute()
    rows = list(model.select().where(model.id.in_(ids) & column.is_null(False)).dicts())
    if rows:
        model.delete().where(model.id.in_([row["id"] for row in rows])).execute()
        insert_rows(model, [{**row, column.name: None, stamp.name: now} for row in rows])
    return len(rows)


def delete_delivery_history(run: Run, organization: int, before: datetime.datetime) -> None:
    """Delete the organization's outbound events created before `before` whose deliveries have all finished,
    with those deliveries and their attempts."""
    unfinished = Delivery.select(Delivery.id).where((Delivery.event == Event.id) & Delivery.status.not_in(FINISHED))
    query = Event.select(Event.id, Event.created_at).where(
        (Event.organization == organization) & ~fn.EXISTS(unfinished)
    )
    for rows in _batches(run, query, Event.created_at, Event.id, before):
        for kind, count in _delete_events([row[0] for row in rows]).items():
            run.count(kind, count)


def _delete_events(event_ids: list[str]) -> dict[str, int]:
    """Delete these events' finished deliveries and their attempts, then the events left with no delivery."""
    with db.atomic():
        finished = Delivery.select(Delivery.id).where(Delivery.event.in_(event_ids) & Delivery.status.in_(FINISHED))
        if isinstance(db.obj, PostgresqlDatabase):
            list(finished.for_update())  # a redelivery asked for now waits, then finds the delivery gone
        attempts = DeliveryAttempt.delete().where(DeliveryAttempt.delivery.in_(finished)).execute()
        deliveries = Delivery.delete().where(Delivery.event.in_(event_ids) & Delivery.status.in_(FINISHED)).execute()
        kept = {event for (event,) in Delivery.select(Delivery.event).where(Delivery.event.in_(event_ids)).tuples()}
        gone = [event for event in event_ids if event not in kept]
        events = Event.delete().where(Event.id.in_(gone)).execute() if gone else 0
    return {"event": events, "delivery": deliveries, "delivery_attempt": attempts}


def delete_activities(run: Run, organization: int, before: datetime.datetime) -> None:
    """Delete the organization's activities last received before `before`."""
    query = Activity.select(Activity.id, Activity.received_at).where(Activity.organization == organization)
    for rows in _batches(run, query, Activity.received_at, Activity.id, before):
        with db.atomic():
            # A newer version stored since the batch was read moved its received_at on: it stays.
            deleted = (
                Activity.delete()
                .where(Activity.id.in_([row[0] for row in rows]) & (Activity.received_at < before))
                .execute()
            )
        run.count("activity", deleted)


STEPS = (
    ("signal_payload_days", clear_signal_payloads),
    ("flow_event_payload_days", clear_flow_event_data),
    ("delivery_history_days", delete_delivery_history),
    ("activity_days", delete_activities),
)


def release_free_space(pages_per_step: int = VACUUM_STEP, should_stop: Callable[[], bool] = _never) -> int:
    """On SQLite with incremental auto-vacuum, give the pages a purge freed back to the file system, a few
    thousand per statement; return how many. Elsewhere nothing: Postgres's autovacuum makes the space reusable."""
    if not isinstance(db.obj, SqliteDatabase) or db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    released = 0
    free = db.execute_sql("PRAGMA freelist_count").fetchone()[0]
    while free > 0 and not should_stop():
        db.execute_sql(f"PRAGMA incremental_vacuum({int(pages_per_step)})").fetchall()  # each row read frees a page
        left = db.execute_sql("PRAGMA freelist_count").fetchone()[0]
        if left >= free:
            break
        released, free = released + free - left, left
    return released


def vacuum() -> dict[str, int | str]:
    """SQLite only: switch the file to incremental auto-vacuum and rebuild it, giving back every free page.

    Holds the write lock while it runs (about as long as copying the file) and needs that much free disk.
    """
    if not isinstance(db.obj, SqliteDatabase):
        return {"database": "postgres", "note": "autovacuum reclaims space; nothing to do"}
    size = _sqlite_bytes()
    db.execute_sql("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect with the VACUUM that follows
    db.execute_sql("VACUUM")
    return {"database": "sqlite", "bytes_before": size, "bytes_after": _sqlite_bytes(), "auto_vacuum": "incremental"}


def _sqlite_bytes() -> int:
    pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    return pages * db.execute_sql("PRAGMA page_size").fetchone()[0]


def _release_what_it_can(should_stop: Callable[[], bool]) -> int:
    """Give freed SQLite pages back; a busy database leaves them for the next purge (they are reused meanwhile)."""
    try:
        return release_free_space(should_stop=should_stop)
    except OperationalError as error:
        logger.warning("free pages not given back this time: %s", error)
        return 0


def schedule_key(prefix: str) -> str:
    return f"{prefix}:retention:purge-scheduled"


def running_key(prefix: str) -> str:
    return f"{prefix}:retention:purge-running"


def sweep_retention(context: JobContext) -> None:
    """Schedule the next purge on RQ's scheduler, one RETENTION_PURGE_INTERVAL ahead, at most once per interval
    however many workers sweep (the key set with NX lives that long)."""
    interval = context.config.retention_purge_interval
    if context.redis.set(schedule_key(context.prefix), 1, nx=True, ex=interval):
        context.queues[DEFAULT_QUEUE].enqueue_in(
            datetime.timedelta(seconds=interval), purge_expired, job_timeout=PURGE_TIMEOUT, retry=jobs.at_least_once()
        )


def count_purged(redis, prefix: str, kind: str, rows: int) -> None:
    """Add a committed batch to hookyard_purged_rows_total; a failure to count is logged, never raised."""
    try:
        PURGED.add(redis, prefix, kind, amount=rows)
    except Exception:
        logger.warning("could not count %d purged %s rows", rows, kind)


def purge_expired() -> dict[str, int]:
    """Purge what has expired for PURGE_SLICE seconds at most, then queue the rest behind the jobs waiting."""
    context = jobs.current()
    if not context.redis.set(running_key(context.prefix), 1, nx=True, ex=PURGE_TIMEOUT):
        logger.info("a purge is running already; this one leaves it the work")
        return dict.fromkeys(KINDS, 0)
    deadline = time.monotonic() + PURGE_SLICE
    run = Run(utcnow(), BATCH_SIZE, observe=functools.partial(count_purged, context.redis, context.prefix))

    def out_of_time() -> bool:  # each job does a batch at least, so a chain of them always gets through
        return SHUTDOWN.is_set() or (run.batches > 0 and time.monotonic() > deadline)

    run.should_stop = out_of_time
    try:
        apply_retention(run, context.config)
        released = _release_what_it_can(out_of_time)
    finally:
        context.redis.delete(running_key(context.prefix))
    if run.stopped and not SHUTDOWN.is_set():
        context.queues[DEFAULT_QUEUE].enqueue(purge_expired, job_timeout=PURGE_TIMEOUT, retry=jobs.at_least_once())
    logger.info(
        "purged %s%s; gave %d free SQLite pages back", run.purged, " (more to do)" if run.stopped else "", released
    )
    return run.purged
