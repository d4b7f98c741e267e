"""Flow jobs (worker side): drain the flow buffer into the event log and fan out; sweep what a dead job left;
publish `flow.rate_limited`."""

import datetime

from hookyard.core import buffer, jobs
from hookyard.core.clock import iso_z
from hookyard.core.jobs import JobContext
from hookyard.core.queues import INGEST_QUEUE
from hookyard.flows.keys import flow_buffer_keys
from hookyard.flows.store import Outcome, parse_item, release_claim, store_flow_events
from hookyard.outbound.jobs import request_dispatch
from hookyard.outbound.operational import publish_operational

CLAIM_SIZE = 500  # flow events stored per transaction by the drain job


def drain_flow_events() -> int:
    """Store every event waiting in the flow buffer, a claim per transaction; return how many."""
    context = jobs.current()
    published = 0

    def store(items: list[bytes]) -> int:
        nonlocal published
        outcome = store_claim(context, items)
        published += outcome.published
        return outcome.stored

    count = buffer.drain(flow_buffer_keys(context.prefix), CLAIM_SIZE, store, drain_flow_events)
    if published:
        request_dispatch(context)
    return count


def store_claim(context: JobContext, items: list[bytes]) -> Outcome:
    """Store claimed items in one transaction, or one by one with the bad ones set aside."""

    def store(chunk: list[bytes]) -> Outcome:
        return store_flow_events([parse_item(item) for item in chunk], context.max_attempts)

    results = buffer.store_isolating(
        context.redis,
        flow_buffer_keys(context.prefix),
        items,
        store,
        on_dead_letter=lambda item, _error: release_claim(context.redis, context.prefix, item),
    )
    return Outcome(
        stored=sum(result.stored for result in results), published=sum(result.published for result in results)
    )


def sweep_flows(context: JobContext) -> None:
    """Give back claims of flow drain jobs that are gone; drain a buffer no job is coming for."""
    buffer.recover(context.redis, context.queues[INGEST_QUEUE], flow_buffer_keys(context.prefix), drain_flow_events)


def publish_rate_limited(flow_id: str, organization_id: int, minute: int, limit: int) -> None:
    """Publish `flow.rate_limited` for a flow's first refusal in a minute (queued by the web process)."""
    context = jobs.current()
    data = {"flow_id": flow_id, "rate_limit_per_second": limit, "minute": iso_z(_minute_start(minute))}
    publish_operational(organization_id, "flow.rate_limited", data, f"{flow_id}:{minute}", context.max_attempts)
    request_dispatch(context)


def _minute_start(minute: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(minute * 60, datetime.UTC).replace(tzinfo=None)
