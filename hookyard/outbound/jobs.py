"""Outbound jobs (worker side): publish events from the API, dispatch due deliveries, redeliver, sweep.

One dispatch job at a time sends every due delivery (dispatch.py); `request_dispatch` queues one per
burst of new deliveries, not one per delivery, and RQ's scheduler runs it again when a retry is due.
"""

import datetime
import functools

from hookyard.core import jobs
from hookyard.core.clock import utcnow
from hookyard.core.jobs import JobContext
from hookyard.core.queues import DELIVERY_QUEUE
from hookyard.outbound import metrics
from hookyard.outbound.dispatch import Dispatcher
from hookyard.outbound.publish import Publisher, publish_event
from models import Delivery, Endpoint

DISPATCH_TIMEOUT = 600


def dispatch_key(prefix: str) -> str:
    return f"{prefix}:deliveries:dispatch-pending"


def request_dispatch(context: JobContext) -> None:
    """Make sure a dispatch job is queued (one per burst of new deliveries, not one per delivery)."""
    if context.redis.set(dispatch_key(context.prefix), 1, nx=True, ex=60):
        context.queues[DELIVERY_QUEUE].enqueue(
            dispatch_deliveries, job_timeout=DISPATCH_TIMEOUT, retry=jobs.at_least_once()
        )


def dispatch_published(context: JobContext, publisher: Publisher) -> None:
    """Queue a dispatch if the job's publisher published anything."""
    if publisher.published:
        request_dispatch(context)


def dispatch_deliveries() -> dict:
    """Send every due delivery; then have RQ's scheduler run this again when the next retry is due."""
    context = jobs.current()
    context.redis.delete(dispatch_key(context.prefix))
    config = context.config
    dispatcher = Dispatcher(
        context.secret_box,
        config.retry_schedule,
        config.delivery_timeout,
        config.webhook_allow_private_networks,
        observe=functools.partial(metrics.record_attempts, context.redis, context.prefix),
    )
    next_due = dispatcher.run()
    if next_due is not None:
        if next_due <= utcnow():
            request_dispatch(context)
        else:
            when = next_due.replace(tzinfo=datetime.UTC)
            context.queues[DELIVERY_QUEUE].enqueue_at(
                when, dispatch_deliveries, job_timeout=DISPATCH_TIMEOUT, job_id=f"dispatch-at-{int(when.timestamp())}"
            )
    return dict(dispatcher.sent)


def publish_api_event(
    organization_id: int,
    event_type: str,
    data: dict,
    event_id: str,
    created_at: str,
    idempotency_key: str | None = None,
    endpoint_id: str | None = None,
    delivery_id: str | None = None,
) -> str:
    """Store an event published through the API (or a test event for one endpoint) and fan it out."""
    context = jobs.current()
    endpoints = None
    if endpoint_id is not None:
        endpoints = list(Endpoint.select().where(Endpoint.id == endpoint_id))
    publish_event(
        organization_id,
        event_type,
        data,
        event_id=event_id,
        idempotency_key=idempotency_key,
        created_at=datetime.datetime.fromisoformat(created_at),
        endpoints=endpoints,
        delivery_ids={endpoint_id: delivery_id} if endpoint_id else None,
        max_attempts=context.max_attempts,
    )
    request_dispatch(context)
    return event_id


def redeliver(delivery_ids: list[str]) -> int:
    """Give deliveries one more attempt now (a manual retry or a replay); return how many."""
    count = (
        Delivery.update(
            status="pending", max_attempts=Delivery.attempts + 1, next_attempt_at=utcnow(), lease_until=None
        )
        .where(Delivery.id.in_(delivery_ids))
        .execute()
    )
    request_dispatch(jobs.current())
    return count


def sweep_deliveries(context: JobContext) -> None:
    """Queue a dispatch when deliveries are due but no job is coming for them (a lost schedule)."""
    now = utcnow()
    due = (
        Delivery.select(Delivery.id)
        .where(
            Delivery.status.in_(("pending", "retrying"))
            & (Delivery.next_attempt_at <= now)
            & (Delivery.lease_until.is_null() | (Delivery.lease_until < now))
        )
        .limit(1)
        .scalar()
    )
    if due is not None and context.queues[DELIVERY_QUEUE].count == 0:
        request_dispatch(context)
