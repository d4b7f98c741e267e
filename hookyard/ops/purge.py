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

from peewee import Field, PostgresqlDatabase, SqliteDatabase, fn

from hookyard.core import jobs
from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from hookyard.core.db import db
from hookyard.core.jobs import SHUTDOWN, JobContext
from hookyard.core.metrics import SharedCounter
from hookyard.core.queues import DEFAULT_QUEUE, TRANSIENT_ERRORS
from hookyard.ops import retention, space
from models import Activity, Delivery, DeliveryAttempt, Event, FlowEvent, RetentionPolicy, Signal

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
MAX_BATCH_SIZE = 30_000  # under SQLite's 32,766 bound parameters in one `IN (...)`
KINDS = ("signal_payload", "flow_event_payload", "event", "delivery", "delivery_attempt", "activity")
FINISHED = ("success", "failed")  # a delivery in any other status may still be sent: its event stays
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
        try:
            for setting, step in STEPS:
                before = retention.cutoff(run.now, days[setting])
                if before is not None and not run.stopping():
                    step(run, organization, before)
        except TRANSIENT_ERRORS:
            raise  # the database is away: the job fails and is retried
        except Exception:  # one organization's bad row must not stop every organization after it
            logger.exception("purging organization %s failed; the others go on, and the next purge tries again",
                             organization)  # fmt: skip
    return run


def _batches(run: Run, query, moment: Field, key: Field, before, start=None) -> Iterator[list[tuple]]:
    """Yield the rows of `query` (selecting key, moment) whose moment is before `before` (and from `start`), oldest
    first, a batch at a time, each batch after the last, until none is left or the run should stop."""
    last = None
    while not run.stopping():
        space.bound_write_ahead_log()  # between batches: SQLite's log would otherwise grow with every batch
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
    _clear_payloads(run, organization, before, Signal.payload, Signal.payload_purged_at, Signal.received_at,
                    RetentionPolicy.signal_payloads_cleared_before, "signal_payload")  # fmt: skip


def clear_flow_event_data(run: Run, organization: int, before: datetime.datetime) -> None:
    """Clear the data of the organization's flow events received before `before`; their rows stay."""
    _clear_payloads(run, organization, before, FlowEvent.data, FlowEvent.data_purged_at, FlowEvent.received_at,
                    RetentionPolicy.flow_event_payloads_cleared_before, "flow_event_payload")  # fmt: skip


def _clear_payloads(run: Run, organization: int, before, column: Field, stamp: Field, moment: Field, mark: Field,
                    kind: str) -> None:  # fmt: skip
    """Walk the organization's rows through (organization, `moment`) from where the last walk ended, clearing
    `column` a batch per transaction and moving the mark with each: a stopped walk resumes where it stopped."""
    start = _cleared_before(run, organization, mark)
    if start is not None and start >= before:
        return
    model = column.model
    query = model.select(model.id, moment).where((model.organization == organization) & column.is_null(False))
    for rows in _batches(run, query, moment, model.id, before, start):
        with db.atomic():
            cleared = _clear(column, stamp, [row[0] for row in rows], run.now)
            _advance(organization, mark, rows[-1][1])  # all before the batch's last is done; ties may remain
        run.count(kind, cleared)
    if not run.stopping():
        _advance(organization, mark, before)


def _clear(column: Field, stamp: Field, ids: list, now: datetime.datetime) -> int:
    """Empty `column` of these rows where it is set, noting when in `stamp`; return how many (in a transaction).

    On SQLite the rows are deleted and inserted again without it: an UPDATE that shrinks rows leaves their pages
    part-empty, and SQLite neither merges those nor puts new rows there (they go at the end), so the space would
    never come back; a delete merges the pages and frees the rest. The rows go through a temporary table whole
    (every column, whatever this code knows of them), and the insert back has no ON CONFLICT: a conflict fails
    the batch's transaction rather than losing a row. On Postgres an UPDATE's old versions are vacuumed and their
    space reused.
    """
    model = column.model
    if not isinstance(db.obj, SqliteDatabase):
        return model.update({column: None, stamp: now}).where(model.id.in_(ids) & column.is_null(False)).execute()
    # Identifiers come from the model, values are bound: nothing here is built from input. The temporary table
    # lives as long as the connection and is emptied after each batch (a DROP would fail while any statement of
    # the connection is still open).
    table, name, stamp_name = model._meta.table_name, column.column_name, stamp.column_name
    scratch, marks = f"temp.purging_{table}", ", ".join("?" * len(ids))
    db.execute_sql(f'CREATE TEMP TABLE IF NOT EXISTS purging_{table} AS SELECT * FROM "{table}" WHERE 0')  # noqa: S608
    copy = f'INSERT INTO {scratch} SELECT * FROM "{table}" WHERE id IN ({marks}) AND "{name}" IS NOT NULL'  # noqa: S608
    cleared = db.execute_sql(copy, ids).rowcount
    if cleared:
        db.execute_sql(f'DELETE FROM "{table}" WHERE id IN (SELECT id FROM {scratch})')  # noqa: S608
        emptied = f'UPDATE {scratch} SET "{name}" = NULL, "{stamp_name}" = ?'  # noqa: S608
        db.execute_sql(emptied, (stamp.db_value(now),))
        db.execute_sql(f'INSERT INTO "{table}" SELECT * FROM {scratch}')  # noqa: S608
        db.execute_sql(f"DELETE FROM {scratch}")  # noqa: S608
    return cleared


def delete_delivery_history(run: Run, organization: int, before: datetime.datetime) -> None:
    """Delete the organization's outbound events created before `before` whose deliveries have all finished,
    with those deliveries and their attempts: at most a batch of deliveries (and their attempts) per transaction,
    however many subscribers an event had, then the events left with none."""
    unfinished = Delivery.select(Delivery.id).where((Delivery.event == Event.id) & Delivery.status.not_in(FINISHED))
    query = Event.select(Event.id, Event.created_at).where(
        (Event.organization == organization) & ~fn.EXISTS(unfinished)
    )
    for rows in _batches(run, query, Event.created_at, Event.id, before):
        event_ids = [row[0] for row in rows]
        finished = Delivery.select(Delivery.id).where(Delivery.event.in_(event_ids) & Delivery.status.in_(FINISHED))
        delivery_ids = list(finished.scalars())
        for start in range(0, len(delivery_ids), run.batch_size):
            space.bound_write_ahead_log()  # an event with many subscribers makes many batches of deliveries
            for kind, count in _delete_deliveries(delivery_ids[start : start + run.batch_size]).items():
                run.count(kind, count)
        with db.atomic():
            kept = Delivery.select(Delivery.event).where(Delivery.event.in_(event_ids))
            run.count("event", Event.delete().where(Event.id.in_(event_ids) & Event.id.not_in(kept)).execute())


def _delete_deliveries(delivery_ids: list[str]) -> dict[str, int]:
    """Delete these finished deliveries and their attempts, in one transaction."""
    with db.atomic():
        finished = Delivery.id.in_(delivery_ids) & Delivery.status.in_(FINISHED)
        if isinstance(db.obj, PostgresqlDatabase):
            list(Delivery.select(Delivery.id).where(finished).for_update())  # a redelivery asked for now waits
        still_finished = Delivery.select(Delivery.id).where(finished)  # one redelivered meanwhile keeps its log
        attempts = DeliveryAttempt.delete().where(DeliveryAttempt.delivery.in_(still_finished)).execute()
        deliveries = Delivery.delete().where(finished).execute()
    return {"delivery": deliveries, "delivery_attempt": attempts}


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
        released = space.release_what_it_can(out_of_time)
    finally:
        context.redis.delete(running_key(context.prefix))
    if run.stopped and not SHUTDOWN.is_set():
        context.queues[DEFAULT_QUEUE].enqueue(purge_expired, job_timeout=PURGE_TIMEOUT, retry=jobs.at_least_once())
    logger.info(
        "purged %s%s; gave %d free SQLite pages back", run.purged, " (more to do)" if run.stopped else "", released
    )
    return run.purged
